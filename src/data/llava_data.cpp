#include "data/llava_data.h"

#include <fstream>
#include <nlohmann/json.hpp>

#include "tensor/error.h"
#include "text/chat_template.h"
#include "text/tokenizer.h"

namespace adallava::data {

namespace {

// "<image>" moved to the front of its turn, followed by "\n" (LLaVA's preprocess_multimodal).
std::string image_first(const std::string& value) {
  std::string v = value;
  for (size_t at; (at = v.find("<image>")) != std::string::npos;) v.erase(at, 7);
  auto strip = [](std::string s) {
    const char* ws = " \t\n\r";
    s.erase(0, s.find_first_not_of(ws));
    s.erase(s.find_last_not_of(ws) + 1);
    return s;
  };
  return strip("<image>\n" + strip(v));
}

Record parse_record(const nlohmann::json& j, size_t index, const std::string& path) {
  std::string where = path + ": record ";
  if (j.is_object() && j.contains("id") && j["id"].is_string()) {
    where += '\'';
    where += j["id"].get<std::string>();
    where += '\'';
  } else {
    where += std::to_string(index);
  }
  if (!j.is_object()) throw Error(where + " is not an object");
  Record r;
  if (j.contains("id")) r.id = j["id"].is_string() ? j["id"].get<std::string>() : j["id"].dump();
  if (j.contains("kind") && j["kind"].is_string()) r.kind = j["kind"].get<std::string>();
  if (j.contains("image")) {
    if (!j["image"].is_string() || j["image"].get<std::string>().empty())
      throw Error(where + ": field image must be a file name");
    r.image = j["image"].get<std::string>();
  }
  if (!j.contains("conversations") || !j["conversations"].is_array() || j["conversations"].empty())
    throw Error(where + ": field conversations must be a non-empty list");
  int image_marks = 0;
  for (const auto& t : j["conversations"]) {
    if (!t.is_object() || !t.contains("from") || !t["from"].is_string() || !t.contains("value") ||
        !t["value"].is_string())
      throw Error(where + ": each conversation turn needs string fields from and value");
    const std::string from = t["from"].get<std::string>();
    if (from != "human" && from != "gpt") throw Error(where + ": turn from '" + from + "' is not human or gpt");
    Turn turn{from == "human", t["value"].get<std::string>()};
    for (size_t at = 0; (at = turn.value.find("<image>", at)) != std::string::npos; at += 7) ++image_marks;
    r.turns.push_back(turn);
  }
  // LLaVA drops a leading gpt turn; after that turns must alternate human, gpt, human, ...
  if (!r.turns.front().human) r.turns.erase(r.turns.begin());
  for (size_t i = 0; i < r.turns.size(); ++i)
    if (r.turns[i].human != (i % 2 == 0)) throw Error(where + ": turns must alternate human and gpt");
  if (r.turns.empty()) throw Error(where + ": no human turn");
  if (!r.image.empty() && image_marks != 1)
    throw Error(where + ": a record with an image needs exactly one <image> in its turns (found " +
                std::to_string(image_marks) + ")");
  if (r.image.empty() && image_marks != 0) throw Error(where + ": <image> in the text but no image field");
  return r;
}

}  // namespace

std::vector<Record> load_llava_json(const std::string& path, bool skip_bad, int64_t* skipped) {
  std::ifstream in(path);
  if (!in) throw Error(path + ": cannot open the data file");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    throw Error(path + ": not valid JSON (" + std::string(e.what()) + ")");
  }
  if (!j.is_array()) throw Error(path + ": expected a JSON list of records");
  std::vector<Record> out;
  if (skipped) *skipped = 0;
  for (size_t i = 0; i < j.size(); ++i) {
    try {
      out.push_back(parse_record(j[i], i, path));
    } catch (const Error&) {
      if (!skip_bad) throw;
      if (skipped) ++*skipped;
    }
  }
  return out;
}

namespace {

// LLaVA's preprocess_plain.
Encoded encode_plain(const Record& r, const EncodeFn& encode, int64_t bos, int64_t image_token) {
  if (r.turns.size() < 2 || r.turns[0].value.find("<image>") == std::string::npos)
    throw Error("the plain template needs an image in the first message and an answer after it");
  auto tok = [&](const std::string& s) { return encode_image_chunks(s, encode, bos, image_token); };
  Encoded e;
  e.ids = tok("<image>" + r.turns[1].value + "\n");
  e.labels = e.ids;
  const size_t prompt = std::min(e.ids.size(), tok("<image>").size());  // BOS and the image
  for (size_t i = 0; i < prompt; ++i) e.labels[i] = kIgnoreIndex;
  return e;
}

}  // namespace

Encoded encode_record(const Record& r, const EncodeFn& encode, int64_t bos, int64_t image_token, bool legacy,
                      const std::string& template_name) {
  if (template_name == "plain") return encode_plain(r, encode, bos, image_token);
  if (template_name != "vicuna_v1")
    throw Error("training template '" + template_name + "' is not one of vicuna_v1, plain");
  const ChatTemplate t = chat_template("vicuna_v1");
  // The conversation, as conv.get_prompt() renders it (SeparatorStyle.TWO).
  std::string text = t.system + t.sep;
  for (size_t i = 0; i < r.turns.size(); ++i) {
    const bool human = i % 2 == 0;
    const std::string value =
        r.turns[i].value.find("<image>") != std::string::npos ? image_first(r.turns[i].value) : r.turns[i].value;
    text += (human ? t.user_role : t.assistant_role) + ": " + value + (human ? t.sep : t.sep2);
  }
  auto tok = [&](const std::string& s) { return encode_image_chunks(s, encode, bos, image_token); };
  Encoded e;
  e.ids = tok(text);
  e.labels = e.ids;
  // preprocess_v1: per round (split at "</s>"), ignore the instruction part; keep the answer.
  const std::string sep = t.sep + t.assistant_role + ": ";
  int64_t cur = 1;
  const int64_t total = int64_t(e.ids.size());
  for (int64_t i = 0; i < std::min<int64_t>(cur, total); ++i) e.labels[size_t(i)] = kIgnoreIndex;
  size_t start = 0;
  for (int round_index = 0; start < text.size(); ++round_index) {
    size_t end = text.find(t.sep2, start);
    const std::string round = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
    start = end == std::string::npos ? text.size() : end + t.sep2.size();
    if (round.empty()) break;
    const size_t at = round.find(sep);
    if (at == std::string::npos) break;
    int64_t round_len = int64_t(tok(round).size());
    int64_t instruction_len = int64_t(tok(round.substr(0, at + sep.size())).size()) - 2;
    if (round_index > 0 && !legacy) --round_len, --instruction_len;
    for (int64_t i = cur; i < std::min(cur + instruction_len, total); ++i) e.labels[size_t(i)] = kIgnoreIndex;
    cur += round_len;
  }
  for (int64_t i = cur; i < total; ++i) e.labels[size_t(i)] = kIgnoreIndex;
  if (cur != total) {  // LLaVA: "tokenization mismatch", the whole sample is ignored
    e.mismatch = true;
    std::fill(e.labels.begin(), e.labels.end(), kIgnoreIndex);
  }
  return e;
}

}  // namespace adallava::data
