#include "vision/image.h"

#include <algorithm>
#include <jpeglib.h>

#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <tuple>
#include <fstream>
#include <iterator>

#include "tensor/error.h"

#define STBI_NO_STDIO
#define STBI_ONLY_PNG
#define STBI_ONLY_BMP
#define STBI_ONLY_GIF
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#include <stb/stb_image.h>
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>
#pragma GCC diagnostic pop

namespace adallava {

namespace {

void check_size(int64_t w, int64_t h, const std::string& name, int64_t max_pixels) {
  if (w <= 0 || h <= 0) throw Error(name + ": image has no pixels");
  if (w > max_pixels / h)  // w * h > max_pixels, without overflowing
    throw Error(name + ": image of " + std::to_string(w) + "x" + std::to_string(h) + " pixels exceeds the limit of " +
                std::to_string(max_pixels) + " pixels");
}

uint32_t be32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }
uint32_t le16(const uint8_t* p) { return uint32_t(p[0]) | uint32_t(p[1]) << 8; }
int32_t le32(const uint8_t* p) { return int32_t(uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24); }

// Width and height as the PNG, GIF or BMP header states them, so that absurd sizes are refused
// before the decoder allocates (stb reports those only as an unknown image type).
bool header_dimensions(const uint8_t* d, size_t n, int64_t* w, int64_t* h) {
  if (n >= 24 && std::memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0) {
    *w = be32(d + 16), *h = be32(d + 20);
    return true;
  }
  if (n >= 10 && std::memcmp(d, "GIF8", 4) == 0) {
    *w = le16(d + 6), *h = le16(d + 8);
    return true;
  }
  if (n >= 26 && d[0] == 'B' && d[1] == 'M') {
    *w = std::abs(int64_t(le32(d + 18))), *h = std::abs(int64_t(le32(d + 22)));
    return true;
  }
  return false;
}

// stb grows its buffer to the size a PNG chunk claims before it reads the chunk, so a file of a
// hundred bytes could ask for gigabytes: every chunk must fit in the bytes that follow it. An
// empty IDAT chunk (legal, and no data) first in a file has stb copy zero bytes to a null
// buffer, which C leaves undefined: such chunks are left out of `copy`, and the bytes stb
// should read are returned (the file itself when it has none).
std::pair<const uint8_t*, size_t> png_for_stb(const uint8_t* d, size_t n, const std::string& name,
                                              std::vector<uint8_t>& copy) {
  if (n < 8 || std::memcmp(d, "\x89PNG\r\n\x1a\n", 8) != 0) return {d, n};
  size_t kept = 0;  // bytes of d already in copy (when copying)
  for (size_t at = 8; at + 8 <= n;) {
    const uint64_t length = be32(d + at);
    const std::string type(reinterpret_cast<const char*>(d + at + 4), 4);
    if (length > n - at - 8)
      throw Error(name + ": corrupt PNG: chunk '" + type + "' at byte " + std::to_string(at) + " claims " +
                  std::to_string(length) + " bytes, past the end of the file");
    const size_t next = std::min(n, size_t(at + 12 + length));  // length, type, data, CRC
    if (type == "IDAT" && length == 0) {
      copy.insert(copy.end(), d + kept, d + at);
      kept = next;
    }
    if (type == "IEND") break;
    at = next;
  }
  if (kept == 0) return {d, n};
  copy.insert(copy.end(), d + kept, d + n);
  return {copy.data(), copy.size()};
}

struct JpegErrorJump {
  jpeg_error_mgr mgr;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void jpeg_error_exit(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<JpegErrorJump*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

void jpeg_silence(j_common_ptr, int) {}

// libjpeg with its defaults (islow IDCT, fancy upsampling): the decoder Pillow uses.
RgbImage decode_jpeg(const uint8_t* data, size_t size, const std::string& name, int64_t max_pixels) {
  jpeg_decompress_struct cinfo;
  JpegErrorJump err;
  cinfo.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = jpeg_error_exit;
  err.mgr.emit_message = jpeg_silence;
  RgbImage img;
  std::string failure;
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    throw Error(name + ": corrupt JPEG: " + std::string(err.message));
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, data, static_cast<unsigned long>(size));
  jpeg_read_header(&cinfo, TRUE);
  if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) failure = "CMYK JPEG is not supported";
  else if (cinfo.image_width == 0 || cinfo.image_height == 0)
    failure = "image has no pixels";
  else if (int64_t(cinfo.image_width) * int64_t(cinfo.image_height) > max_pixels)
    failure = "image of " + std::to_string(cinfo.image_width) + "x" + std::to_string(cinfo.image_height) +
              " pixels exceeds the limit of " + std::to_string(max_pixels) + " pixels";
  if (!failure.empty()) {
    jpeg_destroy_decompress(&cinfo);
    throw Error(name + ": " + failure);
  }
  cinfo.out_color_space = JCS_RGB;
  jpeg_start_decompress(&cinfo);
  img.width = int(cinfo.output_width);
  img.height = int(cinfo.output_height);
  img.pixels.resize(size_t(img.width) * size_t(img.height) * 3);
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = img.row(int(cinfo.output_scanline));
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return img;
}

}  // namespace

RgbImage decode_image(const uint8_t* data, size_t size, const std::string& name, int64_t max_pixels) {
  max_pixels = std::min(max_pixels, kMaxImagePixels);
  if (size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF) return decode_jpeg(data, size, name, max_pixels);
  if (size > (size_t(1) << 31)) throw Error(name + ": file too large");
  int w = 0, h = 0, comp = 0;
  int64_t hw = 0, hh = 0;
  if (header_dimensions(data, size, &hw, &hh)) check_size(hw, hh, name, max_pixels);  // before any allocation
  std::vector<uint8_t> copy;
  std::tie(data, size) = png_for_stb(data, size, name, copy);
  if (!stbi_info_from_memory(data, int(size), &w, &h, &comp))
    throw Error(name + ": not a decodable image (PNG, JPEG, BMP or GIF expected)");
  check_size(w, h, name, max_pixels);
  unsigned char* px = stbi_load_from_memory(data, int(size), &w, &h, &comp, 3);
  if (!px) throw Error(name + ": corrupt image: " + std::string(stbi_failure_reason()));
  RgbImage img;
  img.width = w;
  img.height = h;
  img.pixels.assign(px, px + size_t(w) * size_t(h) * 3);
  stbi_image_free(px);
  return img;
}

RgbImage load_image(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open image");
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (bytes.empty()) throw Error(path + ": empty image file");
  return decode_image(bytes.data(), bytes.size(), path);
}

void write_png(const std::string& path, const RgbImage& image) {
  const std::string tmp = path + ".tmp";
  if (image.width <= 0 || image.height <= 0 || image.pixels.size() != size_t(image.width) * size_t(image.height) * 3)
    throw Error(path + ": no pixels to write");
  if (!stbi_write_png(tmp.c_str(), image.width, image.height, 3, image.pixels.data(), image.width * 3) ||
      std::rename(tmp.c_str(), path.c_str()) != 0)
    throw Error(path + ": cannot write the PNG");
}

}  // namespace adallava
