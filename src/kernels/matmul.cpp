#include "kernels/matmul.h"

#include <omp.h>

#include <algorithm>
#include <vector>

#include "kernels/matmul_avx2.h"
#include "kernels/matmul_avx512.h"

namespace adallava {

WeightView WeightView::row_block(int64_t r0, int64_t n) const {
  WeightView v = *this;
  v.data = at(r0, 0);
  v.rows = n;
  return v;
}

WeightView WeightView::col_block(int64_t c0, int64_t n) const {
  WeightView v = *this;
  v.data = at(0, c0);
  v.cols = n;
  return v;
}

namespace {

KernelSet g_limit = KernelSet::Avx512;

float load_weight(const WeightView& W, int64_t r, int64_t c) {
  const uint8_t* p = W.at(r, c);
  float f;
  to_f32(W.dtype, p, &f, 1);
  return f;
}

float round_bf16(float f) {
  return bf16_to_f32(f32_to_bf16(f));
}

// The calling thread's scratch for the SIMD kernels, grown to at least `bytes` and kept.
uint8_t* scratch(size_t bytes) {
  thread_local std::vector<uint8_t> buffer;
  if (buffer.size() < bytes) buffer.resize(bytes);
  return buffer.data();
}

// Below this many activation rows a weight-streaming GEMV beats packing panels.
constexpr int64_t kGemvMaxRows = 4;

}  // namespace

bool cpu_has_avx512() {
  static const bool has = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
                          __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
  return has;
}

bool cpu_has_avx512_bf16() {
  static const bool has = cpu_has_avx512() && __builtin_cpu_supports("avx512bf16");
  return has;
}

const char* kernel_set_name(KernelSet k) {
  switch (k) {
    case KernelSet::Portable: return "portable";
    case KernelSet::Avx2: return "avx2";
    case KernelSet::Avx512: return "avx512";
  }
  return "?";
}

KernelSet cpu_kernel_set() {
  static const KernelSet best = cpu_has_avx512() ? KernelSet::Avx512
                                : __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                                          __builtin_cpu_supports("f16c")
                                    ? KernelSet::Avx2
                                    : KernelSet::Portable;
  return best;
}

KernelSet active_kernel_set() {
  return std::min(cpu_kernel_set(), g_limit);
}

void set_kernel_limit(KernelSet limit) {
  g_limit = limit;
}

bool avx512_kernels_enabled() {
  return active_kernel_set() == KernelSet::Avx512;
}

void matmul_reference(float* y, int64_t ldy, const float* x, int64_t ldx, int64_t M, const WeightView& W,
                      const float* bias, Precision precision, bool accumulate) {
  const bool bf16 = precision == Precision::BF16;
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < W.rows; ++n) {
      double acc = bias ? bias[n] : 0.0;
      for (int64_t k = 0; k < W.cols; ++k) {
        float a = x[m * ldx + k], w = load_weight(W, n, k);
        if (bf16) a = round_bf16(a), w = round_bf16(w);
        acc += double(a) * double(w);
      }
      float& out = y[m * ldy + n];
      out = accumulate ? float(out + acc) : float(acc);
    }
}

namespace {

// Portable path for CPUs without AVX2: same numerics contract, plain loops.
void matmul_portable(float* y, int64_t ldy, const float* x, int64_t ldx, int64_t M, const WeightView& W,
                     const float* bias, Precision precision, bool accumulate) {
  const bool bf16 = precision == Precision::BF16;
  const int64_t K = W.cols;
#pragma omp parallel
  {
    std::vector<float> wrow(static_cast<size_t>(K));
#pragma omp for schedule(static)
    for (int64_t n = 0; n < W.rows; ++n) {
      for (int64_t k = 0; k < K; ++k) {
        float w = load_weight(W, n, k);
        wrow[size_t(k)] = bf16 ? round_bf16(w) : w;
      }
      for (int64_t m = 0; m < M; ++m) {
        const float* xr = x + m * ldx;
        float acc = 0.f;
        for (int64_t k = 0; k < K; ++k) acc += (bf16 ? round_bf16(xr[k]) : xr[k]) * wrow[size_t(k)];
        if (bias) acc += bias[n];
        float& out = y[m * ldy + n];
        out = accumulate ? out + acc : acc;
      }
    }
  }
}

}  // namespace

void matmul(float* y, int64_t ldy, const float* x, int64_t ldx, int64_t M, const WeightView& W, const float* bias,
            Precision precision, bool accumulate) {
  if (M <= 0 || W.rows <= 0) return;
  if (W.cols == 0) {  // empty sum: just the bias
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < W.rows; ++n) {
        float v = bias ? bias[n] : 0.f;
        y[m * ldy + n] = accumulate ? y[m * ldy + n] + v : v;
      }
    return;
  }
  const KernelSet kernels = active_kernel_set();
  if (kernels == KernelSet::Portable) {
    matmul_portable(y, ldy, x, ldx, M, W, bias, precision, accumulate);
    return;
  }
  // Few rows: stream the weights once (memory bound). Under bf16 precision the activations are
  // rounded to bf16 first, so both paths compute the same products; f32/f16 weights under bf16
  // precision take the packed path, which rounds them the same way.
  const bool bf16 = precision == Precision::BF16;
  const bool gemv = M <= kGemvMaxRows && W.col_stride == 1 && (!bf16 || W.dtype == DType::BF16);
  if (kernels == KernelSet::Avx2 || (bf16 && !cpu_has_avx512_bf16())) {
    if (gemv)
      avx2::matmul_gemv(y, ldy, x, ldx, M, W, bias, accumulate, bf16,
                        scratch(avx2::gemv_workspace_bytes(bf16 ? M : 0, W.cols)));
    else
      avx2::matmul_gemm(y, ldy, x, ldx, M, W, bias, precision, accumulate,
                        scratch(avx2::gemm_workspace_bytes(M, W.cols, bf16, omp_get_max_threads())));
  } else if (gemv && bf16) {
    avx512::matmul_gemv_bf16(y, ldy, x, ldx, M, W, bias, accumulate,
                             scratch(avx512::gemv_bf16_workspace_bytes(M, W.cols)));
  } else if (gemv) {
    avx512::matmul_gemv(y, ldy, x, ldx, M, W, bias, accumulate);
  } else {
    avx512::matmul_gemm(y, ldy, x, ldx, M, W, bias, precision, accumulate,
                        scratch(avx512::gemm_workspace_bytes(M, W.cols, omp_get_max_threads())));
  }
}

}  // namespace adallava
