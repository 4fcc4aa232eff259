// A llama.cpp mmproj GGUF (CLIP tower and projector) beside the text model of its seeds, loaded as
// `adallava run -m text.gguf --mmproj FILE` would.
#include "fuzz/fuzz_support.h"
#include "llava/llava.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace adallava;
  static const std::string text = fuzz::source_dir() + "/fuzz/corpus/gguf/tiny-q8_0.gguf";  // the seeds' pair
  const std::string path = fuzz::write_input("mmproj.gguf", data, size);
  try {
    LlavaModel::load_gguf(text, path);
  } catch (const Error&) {
  }
  return 0;
}
