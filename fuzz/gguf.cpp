// A llama.cpp GGUF text model (header, key-values, tensor infos, offsets): the file is opened,
// every tensor read to its last byte, then loaded as a LLaVA text model with its tokenizer, as
// `adallava run -m FILE.gguf` would.
#include "fuzz/fuzz_support.h"
#include "io/gguf.h"
#include "llava/llava.h"
#include "text/gguf_tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace adallava;
  const std::string path = fuzz::write_input("model.gguf", data, size);
  try {
    const GgufFile f(path);
    for (const GgufTensor& t : f.tensors()) fuzz::touch(t.data, t.nbytes);
    try {
      tokenizer_from_gguf(f).encode("What is in the image?");
    } catch (const Error&) {
    }
    LlavaModel::load_gguf(path, "");
  } catch (const Error&) {
  }
  return 0;
}
