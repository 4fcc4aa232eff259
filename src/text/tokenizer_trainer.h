// Training a LLaMA-style SentencePiece tokenizer (BPE as LLaMA's, byte fallback, <unk> 0, <s> 1, </s> 2)
// on in-memory sentences with libsentencepiece's trainer: used by `adallava synth` for its data
// set, and by tests that need a tokenizer matching a small vocabulary.
#pragma once
#include <string>
#include <vector>

namespace adallava {

struct TokenizerTrainOptions {
  int vocab_size = 512;
  bool byte_fallback = true;  // unseen characters become byte pieces, never <unk>
};

// Writes path (a tokenizer.model) atomically; throws Error naming the path or the trainer's message.
void train_tokenizer(const std::vector<std::string>& sentences, const TokenizerTrainOptions& o,
                     const std::string& path);

}  // namespace adallava
