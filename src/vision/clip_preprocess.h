// CLIPImageProcessor as transformers runs it (resize shortest edge with PIL bicubic, center
// crop, rescale, normalize, HWC->CHW), plus the LLaVA repository's expand2square padding.
#pragma once
#include <array>
#include <string>
#include <vector>

#include "vision/image.h"

namespace adallava {

struct PreprocessConfig {
  int shortest_edge = 224;
  int crop_height = 224, crop_width = 224;
  bool do_resize = true, do_center_crop = true, do_rescale = true, do_normalize = true;
  double rescale_factor = 1.0 / 255.0;
  std::array<float, 3> mean = {0.48145466f, 0.4578275f, 0.40821073f};
  std::array<float, 3> std = {0.26862954f, 0.26130258f, 0.27577711f};
  bool pad_to_square = false;  // LLaVA image_aspect_ratio "pad"
  // The most pixels the padded square or the resized image may have: an elongated image (1 x 4M)
  // would otherwise pad or resize into an allocation of terabytes.
  int64_t max_work_pixels = int64_t(1) << 26;
};

// Reads DIR/preprocessor_config.json; a missing file gives CLIP's defaults at `image_size`.
PreprocessConfig load_preprocess_config(const std::string& dir, int image_size);

// LLaVA's expand2square: centre the image on a square of colour int(mean * 255).
RgbImage expand_to_square(const RgbImage& img, const std::array<float, 3>& mean);
// The size the shortest-edge resize produces: the long side is int(S * long / short).
void resize_target(int w, int h, int shortest_edge, int64_t* out_w, int64_t* out_h);
// The image right after the resize (HWC uint8), for testing the resampler alone.
RgbImage clip_resize(const RgbImage& img, const PreprocessConfig& cfg);
// Full pipeline: pixel values (3, crop_h, crop_w) in f32.
std::vector<float> clip_preprocess(const RgbImage& img, const PreprocessConfig& cfg);

}  // namespace adallava
