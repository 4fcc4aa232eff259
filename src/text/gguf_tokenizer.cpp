#include "text/gguf_tokenizer.h"

#include "tensor/error.h"
#include "text/sentencepiece_proto.h"

namespace adallava {

namespace {

constexpr int kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kByte = 6;

}  // namespace

Tokenizer tokenizer_from_gguf(const GgufFile& f) {
  const std::string model = f.get_string("tokenizer.ggml.model");
  if (model != "llama")
    throw Error(f.path() + ": tokenizer.ggml.model is '" + model + "'; only SentencePiece ('llama') vocabularies are read");
  const nlohmann::json& tokens = f.get_array("tokenizer.ggml.tokens");
  const nlohmann::json* scores = f.has("tokenizer.ggml.scores") ? &f.get_array("tokenizer.ggml.scores") : nullptr;
  const nlohmann::json* types = f.has("tokenizer.ggml.token_type") ? &f.get_array("tokenizer.ggml.token_type") : nullptr;
  const int64_t n = int64_t(tokens.size());
  if ((scores && int64_t(scores->size()) != n) || (types && int64_t(types->size()) != n))
    throw Error(f.path() + ": tokenizer.ggml.scores and token_type must have one entry per token");
  auto id_of = [&](const char* key, int64_t fallback) {
    const int64_t id = f.get_int(key, fallback);
    if (id < 0 || id >= n) throw Error(f.path() + ": " + key + " = " + std::to_string(id) + " is not a token");
    return int(id);
  };
  const int unk = id_of("tokenizer.ggml.unknown_token_id", 0), bos = id_of("tokenizer.ggml.bos_token_id", 1),
            eos = id_of("tokenizer.ggml.eos_token_id", 2);
  std::vector<SpPiece> pieces(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    SpPiece& p = pieces[size_t(i)];
    if (!tokens[size_t(i)].is_string()) throw Error(f.path() + ": tokenizer.ggml.tokens holds a non-string");
    p.text = tokens[size_t(i)].get<std::string>();
    if (scores) {
      if (!(*scores)[size_t(i)].is_number()) throw Error(f.path() + ": tokenizer.ggml.scores holds a non-number");
      p.score = (*scores)[size_t(i)].get<float>();
    }
    p.type = types && (*types)[size_t(i)].is_number_integer() ? (*types)[size_t(i)].get<int>() : kNormal;
    if (p.type < kNormal || p.type > kByte) p.type = kNormal;
    // SentencePiece wants exactly one unknown piece (GGUF may mark <unk> as control).
    if (i == unk) p.type = kUnknown;
    else if (p.type == kUnknown) p.type = kControl;
  }
  Tokenizer t = Tokenizer::from_model_proto(build_llama_model_proto(pieces, unk, bos, eos), /*legacy=*/true, f.path());
  for (int64_t i = 0; i < n; ++i) {
    const SpPiece& p = pieces[size_t(i)];
    if ((p.type == kControl || p.type == kUserDefined) && !p.text.empty()) t.add_special_token(p.text, i);
  }
  return t;
}

}  // namespace adallava
