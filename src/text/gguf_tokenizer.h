// The tokenizer a llama.cpp GGUF carries (tokenizer.ggml.*): its SentencePiece vocabulary
// rebuilt as a model for libsentencepiece, with control and user-defined tokens split out of the
// text as transformers' LlamaTokenizer does (legacy mode, as llama.cpp tokenizes).
#pragma once
#include "io/gguf.h"
#include "text/tokenizer.h"

namespace adallava {

Tokenizer tokenizer_from_gguf(const GgufFile& f);

}  // namespace adallava
