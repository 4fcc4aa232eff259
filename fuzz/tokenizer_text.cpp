// Text a user sends (invalid UTF-8, control bytes, image markers, any length up to libFuzzer's
// cap) through the shipped tokenizer: encoded plain and with image chunks, then decoded; the
// input's bytes also decoded as token ids, valid or not.
#include <cstring>

#include "fuzz/fuzz_support.h"
#include "text/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace adallava;
  static const Tokenizer tok = Tokenizer::load(fuzz::source_dir() + "/models/adallava-tiny-L");
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    tok.decode(tok.encode(text));
    tok.encode_with_image_chunks(text, -200);
  } catch (const Error&) {
  }
  std::vector<int64_t> ids(size / 4);
  for (size_t i = 0; i < ids.size(); ++i) {
    int32_t v;
    std::memcpy(&v, data + 4 * i, 4);
    ids[i] = v;
  }
  try {
    tok.decode(ids);
  } catch (const Error&) {
  }
  return 0;
}
