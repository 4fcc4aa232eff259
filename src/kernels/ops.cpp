#include "kernels/ops.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/kernel_set.h"
#include "kernels/ops_avx512.h"
#include "tensor/dtype.h"

namespace adallava {

namespace {

// Below this many values a second thread costs more than it saves (a decode step's rows).
constexpr int64_t kParallelValues = 1 << 15;

bool avx512_elementwise() { return active_kernels().elementwise >= KernelSet::Avx512; }

// f(begin, count) over [0, n) in one piece per thread (multiples of 16 values), or in one piece
// when n is small or the caller already runs in parallel. Element-wise f gives the same values
// however n is cut.
template <class F>
void in_pieces(int64_t n, F&& f) {
  if (n < kParallelValues || omp_in_parallel()) return f(0, n);
#pragma omp parallel
  {
    const int64_t per = (n / omp_get_num_threads() + 16) / 16 * 16, begin = per * omp_get_thread_num();
    if (begin < n) f(begin, std::min(per, n - begin));
  }
}

// f(t) for each of T rows of C values, rows in parallel when there are many values.
template <class F>
void each_row(int64_t T, int64_t C, F&& f) {
  if (T * C < kParallelValues || T == 1 || omp_in_parallel()) {
    for (int64_t t = 0; t < T; ++t) f(t);
    return;
  }
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < T; ++t) f(t);
}

}  // namespace

void rms_norm(float* out, const float* x, const float* w, int64_t T, int64_t C, float eps) {
  if (avx512_elementwise())
    return each_row(T, C, [&](int64_t t) { avx512::rms_norm_row(out + t * C, x + t * C, w, C, eps); });
  each_row(T, C, [&](int64_t t) {
    const float* xr = x + t * C;
    float* o = out + t * C;
    float ss = 0.f;
    for (int64_t c = 0; c < C; ++c) ss += xr[c] * xr[c];
    const float inv = 1.f / std::sqrt(ss / float(C) + eps);
    for (int64_t c = 0; c < C; ++c) o[c] = (xr[c] * inv) * w[c];
  });
}

// Sequential sums on every kernel set: PruMerge's outlier bound is a percentile of float32 CLS
// attention, which the authors' values pin to 1e-9; 16-lane sums moved it by 2 ulps.
void layer_norm(float* out, const float* x, const float* w, const float* b, int64_t T, int64_t C, float eps) {
  each_row(T, C, [&](int64_t t) {
    const float* xr = x + t * C;
    float* o = out + t * C;
    float mean = 0.f;
    for (int64_t c = 0; c < C; ++c) mean += xr[c];
    mean /= float(C);
    float var = 0.f;
    for (int64_t c = 0; c < C; ++c) var += (xr[c] - mean) * (xr[c] - mean);
    var /= float(C);
    const float inv = 1.f / std::sqrt(var + eps);
    for (int64_t c = 0; c < C; ++c) o[c] = (xr[c] - mean) * inv * w[c] + b[c];
  });
}

void gelu_erf(float* x, int64_t n) {
  in_pieces(n, [&](int64_t b, int64_t m) {
    for (int64_t i = b; i < b + m; ++i) x[i] = 0.5f * x[i] * (1.f + std::erf(x[i] * float(M_SQRT1_2)));
  });
}

void quick_gelu(float* x, int64_t n) {
  const bool simd = avx512_elementwise();
  in_pieces(n, [&](int64_t b, int64_t m) {
    if (simd) return avx512::quick_gelu(x + b, m);
    for (int64_t i = b; i < b + m; ++i) x[i] = x[i] / (1.f + std::exp(-1.702f * x[i]));
  });
}

void silu(float* x, int64_t n) {
  const bool simd = avx512_elementwise();
  in_pieces(n, [&](int64_t b, int64_t m) {
    if (simd) return avx512::silu(x + b, m);
    for (int64_t i = b; i < b + m; ++i) x[i] = x[i] / (1.f + std::exp(-x[i]));
  });
}

namespace {
void gelu_tanh(float* x, int64_t n) {
  const float k = std::sqrt(2.f / float(M_PI));
  for (int64_t i = 0; i < n; ++i) {
    float v = x[i];
    x[i] = 0.5f * v * (1.f + std::tanh(k * (v + 0.044715f * v * v * v)));
  }
}
void relu(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = x[i] > 0.f ? x[i] : 0.f;
}
}  // namespace

bool activation_known(const char* name) {
  for (const char* k : {"gelu", "quick_gelu", "silu", "swish", "gelu_pytorch_tanh", "gelu_new", "relu"})
    if (std::strcmp(name, k) == 0) return true;
  return false;
}

void activation(const char* name, float* x, int64_t n) {
  if (!std::strcmp(name, "gelu")) return gelu_erf(x, n);
  if (!std::strcmp(name, "quick_gelu")) return quick_gelu(x, n);
  if (!std::strcmp(name, "silu") || !std::strcmp(name, "swish")) return silu(x, n);
  if (!std::strcmp(name, "gelu_pytorch_tanh") || !std::strcmp(name, "gelu_new")) return gelu_tanh(x, n);
  if (!std::strcmp(name, "relu")) return relu(x, n);
}

void swiglu(float* gate, const float* up, int64_t n) {
  const bool simd = avx512_elementwise();
  in_pieces(n, [&](int64_t b, int64_t m) {
    if (simd) return avx512::swiglu(gate + b, up + b, m);
    for (int64_t i = b; i < b + m; ++i) gate[i] = gate[i] / (1.f + std::exp(-gate[i])) * up[i];
  });
}

void softmax(float* x, int64_t n, float scale) {
  if (avx512_elementwise()) return avx512::softmax(x, n, scale);
  if (scale != 1.f)
    for (int64_t i = 0; i < n; ++i) x[i] *= scale;
  float mx = -INFINITY;
  for (int64_t i = 0; i < n; ++i) mx = x[i] > mx ? x[i] : mx;
  float sum = 0.f;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - mx);
    sum += x[i];
  }
  const float inv = 1.f / sum;
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

void round_to_bf16(const float* src, uint16_t* dst, int64_t n) {
  if (avx512_elementwise()) return avx512::to_bf16(src, dst, n);
  for (int64_t i = 0; i < n; ++i) dst[i] = f32_to_bf16(src[i]);
}

void add_inplace(float* y, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

void rope_inv_freq(float* inv_freq, int head_dim, float theta) {
  // transformers: 1.0 / (base ** (torch.arange(0, dim, 2).float() / dim)), all in f32.
  for (int i = 0; i < head_dim / 2; ++i) {
    float expo = float(2 * i) / float(head_dim);
    float p = float(std::pow(double(theta), double(expo)));
    inv_freq[i] = 1.f / p;
  }
}

void rope_apply(float* x, int64_t ld, int64_t T, int n_heads, int head_dim, const int64_t* positions,
                const float* inv_freq, bool adjacent_pairs) {
  const int half = head_dim / 2;
  const int second = adjacent_pairs ? 1 : half, stride = adjacent_pairs ? 2 : 1;  // pair i: (stride·i, stride·i + second)
  std::vector<float> cs(static_cast<size_t>(half)), sn(static_cast<size_t>(half));
  for (int64_t t = 0; t < T; ++t) {
    for (int i = 0; i < half; ++i) {
      float angle = float(positions[t]) * inv_freq[i];  // f32 product, as HF
      cs[size_t(i)] = float(std::cos(double(angle)));
      sn[size_t(i)] = float(std::sin(double(angle)));
    }
    for (int h = 0; h < n_heads; ++h) {
      float* v = x + t * ld + int64_t(h) * head_dim;
      for (int i = 0; i < half; ++i) {
        float* p = v + stride * i;
        float a = p[0], b = p[second];
        p[0] = a * cs[size_t(i)] - b * sn[size_t(i)];
        p[second] = b * cs[size_t(i)] + a * sn[size_t(i)];
      }
    }
  }
}

}  // namespace adallava
