// An image file in memory (PNG, JPEG, BMP, GIF) through the decoders the engine uses, then
// CLIP's preprocessing of what decoded, padded to a square when the first byte is odd.
#include "fuzz/fuzz_support.h"
#include "vision/clip_preprocess.h"
#include "vision/image.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace adallava;
  try {
    const RgbImage im = decode_image(data, size, "fuzz input", int64_t(1) << 22);
    PreprocessConfig p;
    p.shortest_edge = p.crop_height = p.crop_width = 32;
    p.max_work_pixels = int64_t(1) << 22;  // the refusal is the same at the default, and runs faster
    p.pad_to_square = size > 0 && (data[0] & 1);
    clip_preprocess(im, p);
  } catch (const Error&) {
  }
  return 0;
}
