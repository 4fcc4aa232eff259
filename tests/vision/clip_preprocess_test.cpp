// Pillow-exact resize (bit for bit) and CLIPImageProcessor's pixel values, for every case of
// the clip_preprocess fixture; LLaVA's pad-to-square against the AdaLLaVA fixtures.
#include "vision/clip_preprocess.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "tensor/error.h"
#include "test_util.h"

namespace adallava {
namespace {

TEST(ClipPreprocess, ResizeIsBitExactAndPixelValuesMatch) {
  const std::string dir = test::fixture("clip_preprocess");
  std::ifstream in(dir + "/manifest.json");
  auto manifest = nlohmann::json::parse(in);
  ASSERT_FALSE(manifest["cases"].empty());
  for (auto& c : manifest["cases"]) {
    const std::string name = c["name"];
    SCOPED_TRACE(name);
    RgbImage img = load_image(dir + "/" + c["image"].get<std::string>());
    ASSERT_EQ(img.width, c["width"].get<int>());
    ASSERT_EQ(img.height, c["height"].get<int>());
    PreprocessConfig cfg;
    cfg.shortest_edge = c["shortest_edge"];
    cfg.crop_height = cfg.crop_width = c["crop"];
    RgbImage resized = clip_resize(img, cfg);
    EXPECT_EQ(resized.width, c["resized_width"].get<int>());
    EXPECT_EQ(resized.height, c["resized_height"].get<int>());
    NpyArray want = read_npy(dir + "/" + c["resized_uint8"].get<std::string>());
    ASSERT_EQ(want.bytes.size(), resized.pixels.size());
    size_t mismatches = 0;
    for (size_t i = 0; i < want.bytes.size(); ++i) mismatches += want.bytes[i] != resized.pixels[i];
    EXPECT_EQ(mismatches, 0u) << "resized pixels differ from Pillow";
    EXPECT_TRUE(test::all_close(clip_preprocess(img, cfg), test::npy_f32(dir + "/" + c["pixel_values"].get<std::string>()),
                                1e-6, "pixel_values"));
  }
}

TEST(ClipPreprocess, PadToSquareMatchesLlavaExpand2Square) {
  for (const char* name : {"adallava_tiny_L", "adallava_tiny_H"}) {
    const std::string dir = test::fixture(name);
    RgbImage img = load_image(dir + "/image.png");
    PreprocessConfig cfg = load_preprocess_config(dir + "/clip_vision_tower", 56);
    RgbImage padded = expand_to_square(img, cfg.mean);
    NpyArray want = read_npy(dir + "/image_padded_rgb.npy");
    EXPECT_EQ(padded.pixels, want.bytes);
    cfg.pad_to_square = true;
    EXPECT_TRUE(test::all_close(clip_preprocess(img, cfg), test::npy_f32(dir + "/pixel_values.npy"), 1e-6, "pixels"));
  }
}

TEST(ClipPreprocess, ShortestEdgeTargetTruncates) {
  int64_t w, h;
  resize_target(641, 359, 336, &w, &h);
  EXPECT_EQ(w, 599);
  EXPECT_EQ(h, 336);
  resize_target(70, 100, 56, &w, &h);
  EXPECT_EQ(w, 56);
  EXPECT_EQ(h, 80);
}

// Found by fuzz/hf_config.cpp: numbers no int or float holds are refused by field, not cast.
TEST(ClipPreprocess, ConfigNumbersOutOfRangeAreRefusedByField) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"size": {"shortest_edge": 9666666666666666666666666666666666666666666666666}})", "size.shortest_edge"},
      {R"({"size": 18446744073709551615})", "field size = 18446744073709551615 is out of range"},
      {R"({"crop_size": 224.5})", "crop_size must be an integer"},
      {R"({"image_mean": [1e300, 0, 0]})", "image_mean = 1e+300 is not a finite float"},
      {R"({"rescale_factor": -1e39})", "rescale_factor"},
  };
  for (const auto& [text, needle] : cases) {
    test::TempDir d;
    test::write_file(d.file("preprocessor_config.json"), text);
    try {
      load_preprocess_config(d.path, 336);
      ADD_FAILURE() << "accepted " << text;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  }
}

// A thin strip within the decoder's pixel limit would pad or resize into terabytes: refused by
// name before any allocation (found by fuzz/image.cpp).
TEST(ClipPreprocess, ElongatedImagesAreRefusedBeforeTheyBlowUp) {
  RgbImage strip;
  strip.width = 1, strip.height = 1 << 20;
  strip.pixels.assign(size_t(strip.height) * 3, 128);
  PreprocessConfig cfg;
  cfg.shortest_edge = cfg.crop_height = cfg.crop_width = 336;
  for (bool pad : {false, true}) {
    cfg.pad_to_square = pad;
    try {
      clip_preprocess(strip, cfg);
      FAIL() << "an elongated image was preprocessed";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("1x1048576 pixels is too elongated"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(pad ? "padding" : "resizing"), std::string::npos) << e.what();
    }
  }
  RgbImage wide;  // 16:1 fits
  wide.width = 1600, wide.height = 100;
  wide.pixels.assign(size_t(wide.width) * size_t(wide.height) * 3, 7);
  EXPECT_NO_THROW(clip_preprocess(wide, cfg));
}

}  // namespace
}  // namespace adallava
