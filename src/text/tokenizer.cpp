#include "text/tokenizer.h"

#include <sentencepiece_processor.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "io/parse_number.h"
#include "tensor/error.h"
#include "text/sentencepiece_proto.h"

namespace adallava {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

const std::string kSpaceMarker = "\xE2\x96\x81";  // U+2581, SentencePiece's space

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open");
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::unique_ptr<sentencepiece::SentencePieceProcessor> load_sp(const std::string& proto, const std::string& path) {
  auto sp = std::make_unique<sentencepiece::SentencePieceProcessor>();
  sentencepiece::util::Status status;
  try {
    status = sp->LoadFromSerializedProto(proto);
  } catch (const std::exception& e) {  // the library throws on some malformed vocabularies
    throw Error(path + ": not a valid SentencePiece model: " + e.what());
  }
  if (!status.ok()) throw Error(path + ": not a valid SentencePiece model: " + status.ToString());
  return sp;
}

bool starts_with(const std::string& s, const std::string& p) {
  return s.compare(0, p.size(), p) == 0;
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size())
    s.replace(pos, from.size(), to);
  return s;
}

}  // namespace

Tokenizer::Tokenizer() = default;
Tokenizer::~Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;

Tokenizer Tokenizer::from_model_file(const std::string& path, bool legacy) {
  return from_model_proto(read_file(path), legacy, path);
}

Tokenizer Tokenizer::from_model_proto(const std::string& proto, bool legacy, const std::string& path) {
  Tokenizer t;
  t.path_ = path;
  t.legacy_ = legacy;
  t.sp_ = load_sp(proto, path);
  t.sp_nodp_ = load_sp(set_add_dummy_prefix(proto, false), path);
  t.bos_ = t.sp_->bos_id();
  t.eos_ = t.sp_->eos_id();
  t.unk_ = t.sp_->unk_id();
  // libsentencepiece aborts (a protobuf CHECK) on an id outside its pieces: check them here.
  const int64_t pieces = t.sp_->GetPieceSize();
  const std::string where = path.empty() ? "tokenizer model" : path;
  for (auto [name, id] : {std::pair{"bos", t.bos_}, {"eos", t.eos_}, {"unk", t.unk_}})
    if (id >= pieces || (id < 0 && std::string(name) == "unk"))
      throw Error(where + ": the SentencePiece model's " + name + "_id " + std::to_string(id) +
                  " is not one of its " + std::to_string(pieces) + " pieces");
  for (int64_t id : {t.bos_, t.eos_, t.unk_})
    if (id >= 0) t.added_[t.sp_->IdToPiece(int(id))] = id;
  t.unk_piece_count_ = int(t.sp_nodp_->EncodeAsIds(t.sp_->IdToPiece(int(t.unk_))).size());
  return t;
}

Tokenizer Tokenizer::load(const std::string& dir) {
  const fs::path model = fs::path(dir) / "tokenizer.model";
  if (!fs::exists(model)) throw Error(model.string() + ": file not found (without a tokenizer a request must give token ids)");
  bool legacy = true;
  json cfg;
  const fs::path cfg_path = fs::path(dir) / "tokenizer_config.json";
  if (fs::exists(cfg_path)) {
    std::ifstream in(cfg_path);
    cfg = json::parse(in, nullptr, false);
    if (cfg.is_discarded() || !cfg.is_object()) throw Error(cfg_path.string() + ": not a valid JSON object");
    if (cfg.contains("legacy") && cfg["legacy"].is_boolean()) legacy = cfg["legacy"].get<bool>();
  }
  Tokenizer t = from_model_file(model.string(), legacy);
  if (cfg.is_object() && cfg.contains("added_tokens_decoder") && cfg["added_tokens_decoder"].is_object())
    for (auto& [id, tok] : cfg["added_tokens_decoder"].items())
      if (tok.is_object() && tok.contains("content") && tok["content"].is_string())
        if (const std::optional<int64_t> n = parse_integer(id))
          t.add_special_token(tok["content"].get<std::string>(), *n);
        else
          throw Error(cfg_path.string() + ": added_tokens_decoder key '" + id + "' is not a token id");
  const fs::path added = fs::path(dir) / "added_tokens.json";
  if (fs::exists(added)) {
    std::ifstream in(added);
    json j = json::parse(in, nullptr, false);
    if (j.is_discarded() || !j.is_object()) throw Error(added.string() + ": not a valid JSON object");
    for (auto& [text, id] : j.items())
      if (id.is_number_integer()) t.add_special_token(text, id.get<int64_t>());
  }
  return t;
}

void Tokenizer::add_special_token(const std::string& text, int64_t id) {
  if (!text.empty()) added_[text] = id;
}

std::vector<SpPiece> Tokenizer::vocabulary(int64_t n) const {
  constexpr int kNormal = 1, kUnknown = 2, kControl = 3, kUnused = 5, kByte = 6;
  std::vector<SpPiece> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = {"[PAD" + std::to_string(i) + "]", -1000.f, kUnused};
  for (int i = 0; i < sp_->GetPieceSize() && i < n; ++i) {
    const int type = sp_->IsUnknown(i) ? kUnknown : sp_->IsControl(i) ? kControl : sp_->IsByte(i) ? kByte
                     : sp_->IsUnused(i) ? kUnused : kNormal;
    v[size_t(i)] = {sp_->IdToPiece(i), sp_->GetScore(i), type};
  }
  for (const auto& [text, id] : added_)  // added tokens win (<image>, <pad>); <s>, </s>, <unk> are pieces already
    if (id >= 0 && id < n && v[size_t(id)].text != text) v[size_t(id)] = {text, -1000.f, kControl};
  return v;
}

int64_t Tokenizer::vocab_size() const {
  int64_t n = sp_->GetPieceSize();
  for (auto& [text, id] : added_) n = id + 1 > n ? id + 1 : n;
  return n;
}

std::vector<int64_t> Tokenizer::encode_raw(const std::string& text) const {
  std::vector<int> ids = sp_->EncodeAsIds(text);
  return std::vector<int64_t>(ids.begin(), ids.end());
}

std::vector<int64_t> Tokenizer::encode_chunk(const std::string& chunk) const {
  if (legacy_) return encode_raw(chunk);
  if (!starts_with(chunk, kSpaceMarker) && !starts_with(chunk, " ")) {
    std::vector<int> ids = sp_nodp_->EncodeAsIds(chunk);
    return std::vector<int64_t>(ids.begin(), ids.end());
  }
  // transformers' trick to keep a leading space without a dummy prefix: encode "<unk>" + text
  // and drop the pieces of "<unk>".
  std::vector<int> ids = sp_nodp_->EncodeAsIds(sp_->IdToPiece(int(unk_)) + chunk);
  if (int(ids.size()) < unk_piece_count_) return std::vector<int64_t>(ids.begin(), ids.end());
  return std::vector<int64_t>(ids.begin() + unk_piece_count_, ids.end());
}

std::vector<int64_t> Tokenizer::encode(const std::string& input, bool add_bos) const {
  std::string text = input;
  if (!legacy_ && !text.empty()) text = kSpaceMarker + replace_all(text, kSpaceMarker, " ");
  // Split out special tokens (longest match first), then tokenize the text between them.
  std::vector<int64_t> ids;
  std::vector<std::pair<bool, int64_t>> kinds;  // (is_special, id) per emitted id, for the rule below
  size_t chunk_start = 0, i = 0;
  auto flush = [&](size_t end) {
    if (end > chunk_start)
      for (int64_t id : encode_chunk(text.substr(chunk_start, end - chunk_start))) kinds.push_back({false, id});
  };
  while (i < text.size()) {
    const std::string* best = nullptr;
    for (auto& [tok, id] : added_)
      if (text.compare(i, tok.size(), tok) == 0 && (!best || tok.size() > best->size())) best = &tok;
    if (best) {
      flush(i);
      kinds.push_back({true, added_.at(*best)});
      i += best->size();
      chunk_start = i;
    } else {
      ++i;
    }
  }
  flush(text.size());
  // legacy=false: a lone leading "▁" before a special token is dropped.
  const int64_t space_id = sp_->PieceToId(kSpaceMarker);
  if (!legacy_ && kinds.size() > 1 && !kinds[0].first && kinds[0].second == space_id && kinds[1].first)
    kinds.erase(kinds.begin());
  if (add_bos) ids.push_back(bos_);
  for (auto& k : kinds) ids.push_back(k.second);
  return ids;
}

std::vector<int64_t> Tokenizer::encode_with_image_chunks(const std::string& text, int64_t image_id) const {
  return encode_image_chunks(
      text, [this](const std::string& t) { return encode(t); }, bos_, image_id);
}

std::vector<int64_t> encode_image_chunks(const std::string& text,
                                         const std::function<std::vector<int64_t>(const std::string&)>& encode,
                                         int64_t bos, int64_t image_id) {
  std::vector<int64_t> out{bos};
  size_t start = 0;
  while (true) {
    size_t at = text.find("<image>", start);
    std::vector<int64_t> chunk = encode(text.substr(start, at == std::string::npos ? std::string::npos : at - start));
    out.insert(out.end(), chunk.begin() + (chunk.empty() ? 0 : 1), chunk.end());  // each chunk's BOS dropped
    if (at == std::string::npos) break;
    out.push_back(image_id);
    start = at + 7;
  }
  return out;
}

std::string Tokenizer::decode(const std::vector<int64_t>& ids) const {
  std::vector<int> keep;
  const int64_t n = sp_->GetPieceSize();
  for (int64_t id : ids)
    if (id >= 0 && id < n && id != bos_ && id != eos_) keep.push_back(int(id));
  return sp_->DecodeIds(keep);
}

}  // namespace adallava
