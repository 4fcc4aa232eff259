#include "text/tokenizer_trainer.h"

#include <sentencepiece_trainer.h>

#include <unordered_map>

#include "io/atomic_write.h"
#include "tensor/error.h"

namespace adallava {

namespace {

class VectorIterator : public sentencepiece::SentenceIterator {
 public:
  explicit VectorIterator(const std::vector<std::string>& s) : s_(s) {}
  bool done() const override { return i_ >= s_.size(); }
  void Next() override { ++i_; }
  const std::string& value() const override { return s_[i_]; }
  sentencepiece::util::Status status() const override { return {}; }

 private:
  const std::vector<std::string>& s_;
  size_t i_ = 0;
};

}  // namespace

void train_tokenizer(const std::vector<std::string>& sentences, const TokenizerTrainOptions& o,
                     const std::string& path) {
  if (sentences.empty()) throw Error(path + ": no text to train the tokenizer on");
  // LLaMA's conventions: BPE, digits split, byte fallback, ids 0/1/2 for <unk>/<s>/</s>, no pad.
  const std::unordered_map<std::string, std::string> args = {
      {"model_type", "bpe"},
      {"vocab_size", std::to_string(o.vocab_size)},
      {"hard_vocab_limit", "false"},
      {"byte_fallback", o.byte_fallback ? "true" : "false"},
      {"split_digits", "true"},
      {"character_coverage", "1.0"},
      {"unk_id", "0"},
      {"bos_id", "1"},
      {"eos_id", "2"},
      {"pad_id", "-1"},
      {"normalization_rule_name", "identity"},
      {"add_dummy_prefix", "true"},
      {"remove_extra_whitespaces", "false"},
      {"num_threads", "1"},
      {"minloglevel", "2"},
  };
  VectorIterator it(sentences);
  std::string proto;
  const auto status = sentencepiece::SentencePieceTrainer::Train(args, &it, &proto);
  if (!status.ok()) throw Error(path + ": tokenizer training failed: " + status.ToString());
  write_file_atomically(path, proto);
}

}  // namespace adallava
