#include "vision/image.h"

#include <gtest/gtest.h>

#include "tensor/error.h"
#include "test_util.h"

namespace adallava {
namespace {

void expect_error(const std::string& path, const std::string& needle) {
  try {
    load_image(path);
    ADD_FAILURE() << "decoded " << path;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(Image, DecodesRgbaAndGrayLikePillowConvertRgb) {
  // The fixture's expected pixels were made from Pillow's convert("RGB").
  const std::string dir = test::fixture("llava_tiny_f32");
  RgbImage img = load_image(dir + "/image.png");
  EXPECT_EQ(img.pixels, read_npy(dir + "/image_rgb.npy").bytes);
}

// An empty IDAT chunk is legal PNG and carries no data: the file decodes as it does without it
// (stb alone would copy zero bytes to a null buffer on one that comes first; fuzz/image.cpp).
TEST(Image, EmptyIdatChunksChangeNothing) {
  const std::string dir = test::fixture("llava_tiny_f32");
  const std::string png = test::read_file(dir + "/image.png");
  const size_t idat = png.find("IDAT") - 4;  // the first IDAT chunk's length field
  const std::string empty_idat("\0\0\0\0IDAT\xae\x42\x60\x82", 12);
  for (size_t at : {idat, idat, png.size() - 12}) {  // before the first IDAT (twice), before IEND
    std::string with = png;
    with.insert(at, empty_idat);
    const RgbImage img = decode_image(reinterpret_cast<const uint8_t*>(with.data()), with.size(), "with-empty-idat");
    EXPECT_EQ(img.pixels, read_npy(dir + "/image_rgb.npy").bytes);
  }
  // The fuzzer's input: an empty IDAT first, then a truncated one.
  expect_error(test::source_dir() + "/fuzz/regressions/image/png-empty-first-idat", "png-empty-first-idat");
}

TEST(Image, BadFilesGetOneLineErrors) {
  test::TempDir d;
  test::write_file(d.file("text.png"), "this is not an image");
  expect_error(d.file("text.png"), "not a decodable image");
  test::write_file(d.file("empty.png"), "");
  expect_error(d.file("empty.png"), "empty");
  expect_error(d.file("missing.png"), "cannot open");
  // A PNG whose header claims 100000 x 100000 pixels.
  std::string png = test::read_file(test::fixture("llava_tiny_f32/image.png"));
  std::string huge = png;
  const unsigned char dims[8] = {0, 1, 0x86, 0xa0, 0, 1, 0x86, 0xa0};
  huge.replace(16, 8, reinterpret_cast<const char*>(dims), 8);
  test::write_file(d.file("huge.png"), huge);
  expect_error(d.file("huge.png"), "exceeds the limit");
  test::write_file(d.file("truncated.png"), png.substr(0, png.size() / 2));
  expect_error(d.file("truncated.png"), "truncated.png");
  test::write_file(d.file("bad.jpg"), std::string("\xff\xd8\xff\xe0garbage", 11));
  expect_error(d.file("bad.jpg"), "corrupt JPEG");
  // Found by fuzz/image.cpp: a 96-byte PNG whose IDAT claims 1.3 GB, which stb would allocate.
  expect_error(test::source_dir() + "/fuzz/regressions/image/png-chunk-claims-gigabytes",
               "chunk 'IDAT' at byte 33 claims 1291845652 bytes, past the end of the file");
}

}  // namespace
}  // namespace adallava
