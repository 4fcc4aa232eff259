// Minimal edits of a serialized SentencePiece ModelProto (protobuf wire format). Debian ships
// libsentencepiece without the generated proto classes, so the one field transformers changes
// (normalizer_spec.add_dummy_prefix) is rewritten here.
#pragma once
#include <string>

namespace adallava {

// Returns the model with normalizer_spec.add_dummy_prefix = value. Throws Error on bad input.
std::string set_add_dummy_prefix(const std::string& model_proto, bool value);

}  // namespace adallava
