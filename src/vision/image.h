// An 8-bit RGB image (HWC), and decoding PNG/JPEG/BMP/GIF files into one the way Pillow's
// convert("RGB") does: alpha dropped without compositing, grey replicated, palettes expanded.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace adallava {

struct RgbImage {
  int width = 0, height = 0;
  std::vector<uint8_t> pixels;  // height * width * 3

  uint8_t* row(int y) { return pixels.data() + size_t(y) * size_t(width) * 3; }
  const uint8_t* row(int y) const { return pixels.data() + size_t(y) * size_t(width) * 3; }
};

// Largest image accepted, in pixels (a 16k × 16k photo fits; a decompression bomb does not).
constexpr int64_t kMaxImagePixels = int64_t(1) << 28;

// Decodes a file; throws Error naming the file for unreadable, corrupt or oversized images.
RgbImage load_image(const std::string& path);
// From memory; max_pixels lowers the limit (a server's --max-image-pixels).
RgbImage decode_image(const uint8_t* data, size_t size, const std::string& name, int64_t max_pixels = kMaxImagePixels);
// Writes a PNG (through a temporary file and a rename); throws Error naming the path.
void write_png(const std::string& path, const RgbImage& image);

}  // namespace adallava
