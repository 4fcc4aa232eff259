// The LLaMA tokenizer as transformers' slow LlamaTokenizer runs it over libsentencepiece:
// BOS prepended, special and added tokens (<s>, </s>, <unk>, <image>, ...) split out of the
// text first, and the `legacy` flag's two ways of treating text that follows them.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "text/sentencepiece_proto.h"

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace adallava {

class Tokenizer {
 public:
  // DIR/tokenizer.model, plus DIR/tokenizer_config.json and DIR/added_tokens.json if present.
  static Tokenizer load(const std::string& dir);
  // A bare SentencePiece model with explicit settings (tests, trained tokenizers).
  static Tokenizer from_model_file(const std::string& path, bool legacy);
  // The same from the model's bytes; origin names it in messages.
  static Tokenizer from_model_proto(const std::string& proto, bool legacy, const std::string& origin);

  Tokenizer();
  ~Tokenizer();
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;

  // LlamaTokenizer(text).input_ids (with BOS when add_bos).
  std::vector<int64_t> encode(const std::string& text, bool add_bos = true) const;
  // Raw SentencePiece ids of text (no BOS, no special-token splitting).
  std::vector<int64_t> encode_raw(const std::string& text) const;
  // The LLaVA repository's tokenizer_image_token: each "<image>"-separated chunk tokenized on
  // its own, one BOS, chunks joined by image_id (-200).
  std::vector<int64_t> encode_with_image_chunks(const std::string& text, int64_t image_id) const;
  std::string decode(const std::vector<int64_t>& ids) const;  // special tokens skipped

  void add_special_token(const std::string& text, int64_t id);
  bool has_token(const std::string& text) const { return added_.count(text) != 0; }
  int64_t token_id(const std::string& text) const { return added_.at(text); }
  int64_t bos_id() const { return bos_; }
  int64_t eos_id() const { return eos_; }
  int64_t vocab_size() const;  // SentencePiece pieces plus added tokens
  // Every id below n as a GGUF vocabulary lists it: the SentencePiece pieces with their scores
  // and types, the added tokens as control tokens, unused "[PAD<id>]" entries for the rest.
  std::vector<SpPiece> vocabulary(int64_t n) const;
  bool legacy() const { return legacy_; }

 private:
  std::vector<int64_t> encode_chunk(const std::string& chunk) const;

  std::unique_ptr<sentencepiece::SentencePieceProcessor> sp_;       // as stored
  std::unique_ptr<sentencepiece::SentencePieceProcessor> sp_nodp_;  // add_dummy_prefix off (legacy=false)
  std::map<std::string, int64_t> added_;                            // specials matched in text
  bool legacy_ = true;
  int64_t bos_ = 1, eos_ = 2, unk_ = 0;
  int unk_piece_count_ = 0;  // pieces of the literal text "<unk>" (legacy=false trick)
  std::string path_;
};

// LLaVA's tokenizer_image_token: encode (BOS first, like HF tokenizer(text).input_ids) each
// piece between "<image>" placeholders, drop each piece's BOS, join with image_id, one BOS first.
std::vector<int64_t> encode_image_chunks(const std::string& text,
                                         const std::function<std::vector<int64_t>(const std::string&)>& encode,
                                         int64_t bos, int64_t image_id);

}  // namespace adallava
