// Pillow's resampler (Image.resize with BICUBIC), reproduced bit for bit for 8-bit RGB:
// separable, horizontal pass then vertical, support widened by the downscale factor
// (antialiasing), a = -0.5, 22-bit fixed-point coefficients, rounding and clamping to uint8
// after each pass.
#pragma once
#include "vision/image.h"

namespace adallava {

RgbImage pil_resize_bicubic(const RgbImage& in, int out_width, int out_height);

}  // namespace adallava
