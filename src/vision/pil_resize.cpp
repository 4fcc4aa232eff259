#include "vision/pil_resize.h"

#include <cmath>
#include <vector>

namespace adallava {

namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;

double bicubic(double x) {
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

// For each output pixel: the first input index, the number of taps, and `ksize` fixed-point
// weights, computed exactly as Pillow's precompute_coeffs + normalize_coeffs_8bpc.
struct Coeffs {
  int ksize = 0;
  std::vector<int> first, count;
  std::vector<int> weights;  // out_size * ksize
};

Coeffs precompute(int in_size, int out_size) {
  constexpr double support_base = 2.0;  // bicubic
  const double scale = double(in_size) / double(out_size);
  const double filterscale = scale < 1.0 ? 1.0 : scale;
  const double support = support_base * filterscale;
  Coeffs c;
  c.ksize = int(std::ceil(support)) * 2 + 1;
  c.first.resize(static_cast<size_t>(out_size));
  c.count.resize(static_cast<size_t>(out_size));
  c.weights.assign(size_t(out_size) * size_t(c.ksize), 0);
  std::vector<double> k(size_t(c.ksize));
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = (xx + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    int xmin = int(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = int(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      double w = bicubic((x + xmin - center + 0.5) * ss);
      k[size_t(x)] = w;
      ww += w;
    }
    for (int x = 0; x < xmax; ++x) {
      double w = ww != 0.0 ? k[size_t(x)] / ww : k[size_t(x)];
      c.weights[size_t(xx) * size_t(c.ksize) + size_t(x)] =
          w < 0 ? int(-0.5 + w * (1 << kPrecisionBits)) : int(0.5 + w * (1 << kPrecisionBits));
    }
    c.first[size_t(xx)] = xmin;
    c.count[size_t(xx)] = xmax;
  }
  return c;
}

inline uint8_t clip8(int v) {
  v >>= kPrecisionBits;  // arithmetic shift: floor, as Pillow's lookup table
  return uint8_t(v < 0 ? 0 : (v > 255 ? 255 : v));
}

}  // namespace

RgbImage pil_resize_bicubic(const RgbImage& in, int out_w, int out_h) {
  const bool need_h = out_w != in.width, need_v = out_h != in.height;
  Coeffs ch = precompute(in.width, out_w);
  Coeffs cv = precompute(in.height, out_h);

  // Horizontal pass over only the input rows the vertical pass will read.
  const int y_first = cv.first[0];
  const int y_last = cv.first[size_t(out_h - 1)] + cv.count[size_t(out_h - 1)];
  RgbImage tmp;
  const RgbImage* src = &in;
  int row_offset = 0;  // src row of the vertical pass's input row 0
  if (need_h) {
    tmp.width = out_w;
    tmp.height = y_last - y_first;
    tmp.pixels.resize(size_t(tmp.width) * size_t(tmp.height) * 3);
    for (int y = 0; y < tmp.height; ++y) {
      const uint8_t* r = in.row(y + y_first);
      uint8_t* o = tmp.row(y);
      for (int xx = 0; xx < out_w; ++xx) {
        const int* k = &ch.weights[size_t(xx) * size_t(ch.ksize)];
        const int x0 = ch.first[size_t(xx)], n = ch.count[size_t(xx)];
        int s0 = 1 << (kPrecisionBits - 1), s1 = s0, s2 = s0;
        for (int x = 0; x < n; ++x) {
          const uint8_t* p = r + (x0 + x) * 3;
          s0 += p[0] * k[x];
          s1 += p[1] * k[x];
          s2 += p[2] * k[x];
        }
        o[xx * 3 + 0] = clip8(s0);
        o[xx * 3 + 1] = clip8(s1);
        o[xx * 3 + 2] = clip8(s2);
      }
    }
    src = &tmp;
    row_offset = y_first;
  }
  if (!need_v) {
    if (need_h) return tmp;
    return in;
  }
  RgbImage out;
  out.width = src->width;
  out.height = out_h;
  out.pixels.resize(size_t(out.width) * size_t(out_h) * 3);
  for (int yy = 0; yy < out_h; ++yy) {
    const int* k = &cv.weights[size_t(yy) * size_t(cv.ksize)];
    const int y0 = cv.first[size_t(yy)] - (need_h ? row_offset : 0), n = cv.count[size_t(yy)];
    uint8_t* o = out.row(yy);
    for (int xx = 0; xx < out.width * 3; ++xx) {
      int s = 1 << (kPrecisionBits - 1);
      for (int y = 0; y < n; ++y) s += src->row(y0 + y)[xx] * k[y];
      o[xx] = clip8(s);
    }
  }
  return out;
}

}  // namespace adallava
