// A tokenizer.model file (a SentencePiece model proto): loaded as the engine loads one, then
// used on a sentence with an image marker.
#include "fuzz/fuzz_support.h"
#include "text/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace adallava;
  const std::string proto(reinterpret_cast<const char*>(data), size);
  try {
    const Tokenizer t = Tokenizer::from_model_proto(proto, true, "fuzz tokenizer.model");
    t.decode(t.encode_with_image_chunks("USER: <image>\nWhat is this? ASSISTANT:", -200));
  } catch (const Error&) {
  }
  return 0;
}
