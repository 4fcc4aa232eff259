#include "kernels/matmul_quant.h"

#include <omp.h>

#include <algorithm>
#include <vector>

#include "kernels/quant_dot.h"
#include "tensor/quant.h"

namespace adallava {

namespace {

// Below this many activation rows the integer products stream the weights once per row.
constexpr int64_t kDotMaxRows = 4;

// Thread-local buffers that keep their size between calls.
template <typename T>
T* buffer(std::vector<T>& v, size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

float dot(KernelSet k, DType wt, const uint8_t* w, const void* x, int64_t nb) {
  if (uses_q8_k(wt)) return vec_dot_q8_k(wt, w, static_cast<const BlockQ8_K*>(x), nb * 256);
  const auto* a = static_cast<const BlockQ8_0*>(x);
  if (wt == DType::Q4_0 && k == KernelSet::Avx2) return avx2::dot_q4_0(w, a, nb);
  if (wt == DType::Q8_0 && k == KernelSet::Avx2) return avx2::dot_q8_0(w, a, nb);
  if (wt == DType::Q4_0 && k >= KernelSet::Avx512) return vnni::dot_q4_0(w, a, nb);
  if (wt == DType::Q8_0 && k >= KernelSet::Avx512) return vnni::dot_q8_0(w, a, nb);
  return vec_dot_q8_0(wt, w, a, nb * 32);
}

// Few rows: each row of x quantized once, every weight row read once for all of them.
void integer_products(float* y, int64_t ldy, const float* x, int64_t ldx, int64_t M, const WeightView& W,
                      const float* bias, bool accumulate) {
  const bool k_blocks = uses_q8_k(W.dtype);
  const int64_t B = k_blocks ? 256 : 32, nb = W.cols / B;
  const size_t block_size = k_blocks ? sizeof(BlockQ8_K) : sizeof(BlockQ8_0);
  thread_local std::vector<uint8_t> xq_store;
  uint8_t* xq = buffer(xq_store, size_t(M * nb) * block_size);
  for (int64_t m = 0; m < M; ++m) {
    if (k_blocks) quantize_activation_q8_k(x + m * ldx, reinterpret_cast<BlockQ8_K*>(xq) + m * nb, W.cols);
    else quantize_activation_q8_0(x + m * ldx, reinterpret_cast<BlockQ8_0*>(xq) + m * nb, W.cols);
  }
  const KernelSet k = active_kernels().gemv_quant;
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < W.rows; ++n) {
    const uint8_t* w = W.at(n, 0);
    for (int64_t m = 0; m < M; ++m) {
      float v = dot(k, W.dtype, w, xq + size_t(m * nb) * block_size, nb) + (bias ? bias[n] : 0.f);
      float& out = y[m * ldy + n];
      out = accumulate ? out + v : v;
    }
  }
}

// Many rows (or unaligned columns, or exact products): dequantized panels through the float kernels.
void panel_products(float* y, int64_t ldy, const float* x, int64_t ldx, int64_t M, const WeightView& W,
                    const float* bias, Precision precision, bool accumulate) {
  // Q8 takes bf16 tiles only where a real bf16 kernel runs them; elsewhere f32 is as fast.
  const KernelSet bf16_kernel = active_kernels().gemm_bf16;
  const bool to_bf16 = precision == Precision::BF16 ||
                       (precision == Precision::Q8 && bf16_kernel >= KernelSet::Avx512Bf16);
  const Precision inner = to_bf16 ? Precision::BF16 : Precision::F32;
  const int64_t N = W.rows, K = W.cols;
  const int nth = omp_get_max_threads();
  // Enough panels to share among the threads, each a few hundred KB at most.
  const int64_t by_threads = (N + 4 * nth - 1) / (4 * nth);
  const int64_t chunk = std::clamp<int64_t>((std::min<int64_t>(by_threads, (256 << 10) / std::max<int64_t>(K, 1)) + 15) / 16 * 16, 16, 512);
  const int64_t n_chunks = (N + chunk - 1) / chunk;
  // Each panel's float kernel runs on the thread that made it (OpenMP nests no second team by default).
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t c = 0; c < n_chunks; ++c) {
    const int64_t n0 = c * chunk, rows = std::min(chunk, N - n0);
    thread_local std::vector<float> f32_panel;
    thread_local std::vector<uint16_t> bf16_panel;
    float* row = buffer(f32_panel, size_t(to_bf16 ? K : rows * K));
    uint16_t* packed = to_bf16 ? buffer(bf16_panel, size_t(rows * K)) : nullptr;
    for (int64_t r = 0; r < rows; ++r) {
      if (!to_bf16) {
        weight_row(W, n0 + r, row + r * K);
        continue;
      }
      weight_row(W, n0 + r, row);
      for (int64_t k = 0; k < K; ++k) packed[r * K + k] = f32_to_bf16(row[k]);
    }
    const WeightView panel = to_bf16 ? WeightView::dense(DType::BF16, packed, rows, K)
                                     : WeightView::dense(DType::F32, row, rows, K);
    matmul(y + n0, ldy, x, ldx, M, panel, bias ? bias + n0 : nullptr, inner, accumulate);
  }
}

}  // namespace

float quant_dot(KernelSet k, DType wt, const void* w, const void* x_blocks, int64_t nb) {
  return dot(k, wt, static_cast<const uint8_t*>(w), x_blocks, nb);
}

void matmul_quantized(float* y, int64_t ldy, const float* x, int64_t ldx, int64_t M, const WeightView& W,
                      const float* bias, Precision precision, bool accumulate) {
  const int64_t B = uses_q8_k(W.dtype) ? 256 : 32;
  if (precision == Precision::Q8 && M <= kDotMaxRows && W.col_offset == 0 && W.cols % B == 0)
    return integer_products(y, ldy, x, ldx, M, W, bias, accumulate);
  panel_products(y, ldy, x, ldx, M, W, bias, precision, accumulate);
}

}  // namespace adallava
