// Minimal edits of a serialized SentencePiece ModelProto (protobuf wire format). Debian ships
// libsentencepiece without the generated proto classes, so the one field transformers changes
// (normalizer_spec.add_dummy_prefix) is rewritten here.
#pragma once
#include <string>
#include <vector>

namespace adallava {

// Returns the model with normalizer_spec.add_dummy_prefix = value. Throws Error on bad input.
std::string set_add_dummy_prefix(const std::string& model_proto, bool value);

// A LLaMA-style model (BPE, byte fallback, identity normalizer, dummy prefix) from its pieces,
// as a GGUF vocabulary lists them. Types are SentencePiece's (1 normal, 2 unknown, 3 control,
// 4 user defined, 5 unused, 6 byte), which GGUF's token types share.
struct SpPiece {
  std::string text;
  float score = 0.f;
  int type = 1;
};
std::string build_llama_model_proto(const std::vector<SpPiece>& pieces, int unk_id, int bos_id, int eos_id);

}  // namespace adallava
