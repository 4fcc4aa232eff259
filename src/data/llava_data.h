// LLaVA instruction data: a JSON list of {id, image, conversations: [{from: human|gpt, value}]}
// with "<image>" in the first human turn, rendered in the vicuna_v1 template and labelled as
// the LLaVA repository's preprocess_multimodal + preprocess_v1 do: only the assistant answers
// and their "</s>" are supervised; everything else is kIgnoreIndex.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace adallava::data {

// The label of a token that is not supervised (PyTorch cross-entropy's ignore_index).
constexpr int64_t kIgnoreIndex = -100;

struct Turn {
  bool human = true;
  std::string value;
};

struct Record {
  std::string id;
  std::string image;  // file name under the image folder; empty for text-only records
  std::string kind;   // optional question kind (adallava synth writes one), for per-kind scores
  std::vector<Turn> turns;
};

// Reads and checks the file. A malformed record throws Error naming the file and the record
// (its id or index), unless skip_bad, which skips it and counts it in *skipped.
std::vector<Record> load_llava_json(const std::string& path, bool skip_bad = false, int64_t* skipped = nullptr);

// HF tokenizer(text).input_ids: BOS first.
using EncodeFn = std::function<std::vector<int64_t>(const std::string&)>;

struct Encoded {
  std::vector<int64_t> ids, labels;  // same length; the image token marks the image
  bool mismatch = false;             // LLaVA's "tokenization mismatch": every label ignored
};

// The record as LLaVA's training encodes it. template_name "vicuna_v1" (preprocess_v1, the
// instruction-tuning stage): the conversation with the system prompt, every answer supervised.
// "plain" (preprocess_plain, the caption pre-training stage): the image, then the first answer
// and "\n", the image unsupervised; the question is dropped. bos: the tokenizer's BOS id.
// legacy: the tokenizer's `legacy` flag (false shifts rounds after the first by one token, as
// LLaVA does).
Encoded encode_record(const Record& r, const EncodeFn& encode, int64_t bos, int64_t image_token, bool legacy = true,
                      const std::string& template_name = "vicuna_v1");

}  // namespace adallava::data
