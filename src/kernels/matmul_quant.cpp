#include "kernels/matmul_quant.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/cpu_features.h"
#include "kernels/dequant_avx2.h"
#include "kernels/matmul_amx.h"
#include "kernels/matmul_avx512.h"
#include "kernels/quant_dot.h"
#include "tensor/quant.h"

namespace adallava {

namespace {

// Up to this many activation rows the integer products stream the weights once per row (a
// group's blocks stay in cache for the other rows); up to kDotMaxBatchRows (a batch of decoding
// requests) where no 8-bit GEMM exists, so a batched request computes what it would alone.
constexpr int64_t kDotMaxRows = 4, kDotMaxBatchRows = 8;
// Q8_0's 8-bit GEMM serves batches of requests (each row as its one-row product, bit for bit);
// prompts beyond this many rows take bf16 panels, which ran faster on Zen 5 (vdpbf16ps) for a
// 128-row prompt of the 7B shape.
constexpr int64_t kQ8GemmMaxRows = 64;
// From this many rows AMX's bf16 tiles (weights dequantized as they are packed) beat Q4_0's
// 8-bit GEMM: at 16 rows the GEMM ran 1.3x faster, at 24 the tiles 1.2x, at 512 4x (4096 x 4096,
// Intel Xeon with AMX, 2 threads).
constexpr int64_t kAmxMinRows = 24;

// Thread-local buffers that keep their size between calls.
template <typename T>
T* buffer(std::vector<T>& v, size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

float dot(KernelSet k, DType wt, const uint8_t* w, const void* x, int64_t nb, Prefetch next = {}) {
  if (uses_q8_k(wt)) {  // AVX2 serves the AVX-512 sets too
    const auto* a = static_cast<const BlockQ8_K*>(x);
    if (k >= KernelSet::Avx2) return wt == DType::Q4_K ? avx2::dot_q4_k(w, a, nb, next) : avx2::dot_q6_k(w, a, nb, next);
    return vec_dot_q8_k(wt, w, a, nb * 256);
  }
  const auto* a = static_cast<const BlockQ8_0*>(x);
  if (wt == DType::Q4_0 && k == KernelSet::Avx2) return avx2::dot_q4_0(w, a, nb);
  if (wt == DType::Q8_0 && k == KernelSet::Avx2) return avx2::dot_q8_0(w, a, nb);
  if (wt == DType::Q4_0 && k >= KernelSet::Avx512) return vnni::dot_q4_0(w, a, nb);
  if (wt == DType::Q8_0 && k >= KernelSet::Avx512) return vnni::dot_q8_0(w, a, nb);
  return vec_dot_q8_0(wt, w, a, nb * 32);
}

// How far ahead a thread that streams groups of weights prefetches (quant_dot.h).
// (AMD: the same block of the next group of four rows, or of the next row).
Prefetch streaming_prefetch(const WeightView& W) {
  if (cpu_features().intel) return fixed_prefetch();
  return {int64_t(rows_per_group(W.dtype) * row_bytes(W.dtype, W.row_stride)), 0};
}

// The four rows of an interleaved group.
void dot4(KernelSet k, DType wt, const uint8_t* group, const BlockQ8_0* x, int64_t nb, float* out, Prefetch p = {}) {
  const bool q4 = wt == DType::Q4_0_R4;
  if (k == KernelSet::Avx2) return q4 ? avx2::dot4_q4_0(group, x, nb, out, p) : avx2::dot4_q8_0(group, x, nb, out, p);
  if (k >= KernelSet::Avx512) return q4 ? vnni::dot4_q4_0(group, x, nb, out, p) : vnni::dot4_q8_0(group, x, nb, out, p);
  const DType plain = plain_type(wt);
  thread_local std::vector<uint8_t> row;
  uint8_t* r = buffer(row, row_bytes(plain, nb * 32));
  for (int lane = 0; lane < 4; ++lane) {
    deinterleave_blocks(wt, group, lane, r, nb);
    out[lane] = vec_dot_q8_0(plain, r, x, nb * 32);
  }
}

// The activation rows as 8-bit blocks over the whole blocks the view's columns lie in (zeros
// outside the view: they meet the weights of the neighbouring columns and add nothing).
const uint8_t* quantized_activations(const float* x, int64_t ldx, int64_t M, const WeightView& W, int64_t B,
                                     int64_t span) {
  const bool k_blocks = B == 256;
  const size_t block_size = k_blocks ? sizeof(BlockQ8_K) : sizeof(BlockQ8_0);
  const int64_t nb = span / B;
  thread_local std::vector<uint8_t> store;
  uint8_t* xq = buffer(store, size_t(M * nb) * block_size);
  const bool pad = W.col_offset != 0 || span != W.cols;
  const bool simd = active_kernels().gemv_quant >= KernelSet::Avx2;
#pragma omp parallel for schedule(static) if (M > kDotMaxRows)
  for (int64_t m = 0; m < M; ++m) {
    thread_local std::vector<float> padded;
    float* row = pad ? buffer(padded, size_t(span)) : nullptr;
    const float* src = x + m * ldx;
    if (pad) {
      std::fill(row, row + span, 0.f);
      std::copy(src, src + W.cols, row + W.col_offset);
      src = row;
    }
    if (k_blocks) quantize_activation_q8_k(src, reinterpret_cast<BlockQ8_K*>(xq) + m * nb, span);
    else if (simd) avx2::quantize_activation_q8_0(src, reinterpret_cast<BlockQ8_0*>(xq) + m * nb, span);
    else quantize_activation_q8_0(src, reinterpret_cast<BlockQ8_0*>(xq) + m * nb, span);
  }
  return xq;
}

void store(float* y, int64_t ldy, int64_t m, int64_t n, float v, const float* bias, bool accumulate) {
  if (bias) v += bias[n];
  float& out = y[m * ldy + n];
  out = accumulate ? out + v : v;
}

// Few rows: each row of x quantized once, every weight row read once for all of them.
void integer_products(float* y, int64_t ldy, const float* x, int64_t ldx, int64_t M, const WeightView& W,
                      const float* bias, bool accumulate) {
  const int64_t B = uses_q8_k(W.dtype) ? 256 : 32;
  const int64_t span = (W.col_offset + W.cols + B - 1) / B * B, nb = span / B;
  const size_t block_size = B == 256 ? sizeof(BlockQ8_K) : sizeof(BlockQ8_0);
  const uint8_t* xq = quantized_activations(x, ldx, M, W, B, span);
  const KernelSet k = active_kernels().gemv_quant;
  if (rows_per_group(W.dtype) == 1) {
    const Prefetch next = streaming_prefetch(W);
#pragma omp parallel for schedule(static)
    for (int64_t n = 0; n < W.rows; ++n)
      for (int64_t m = 0; m < M; ++m)
        store(y, ldy, m, n, dot(k, W.dtype, W.at(n, 0), xq + size_t(m * nb) * block_size, nb, m == 0 ? next : Prefetch{}),
              bias, accumulate);
    return;
  }
  const int64_t groups = (W.row_offset + W.rows + 3) / 4;
  const Prefetch ahead = streaming_prefetch(W);
#pragma omp parallel for schedule(static)
  for (int64_t g = 0; g < groups; ++g) {
    const uint8_t* group = W.at(4 * g, 0);
    for (int64_t m = 0; m < M; ++m) {
      float out[4];
      dot4(k, W.dtype, group, reinterpret_cast<const BlockQ8_0*>(xq) + m * nb, nb, out, m == 0 ? ahead : Prefetch{});
      for (int lane = 0; lane < 4; ++lane) {
        const int64_t n = 4 * g + lane - W.row_offset;
        if (n >= 0 && n < W.rows) store(y, ldy, m, n, out[lane], bias, accumulate);
      }
    }
  }
}

// Many rows against Q4_0_R4 weights (AVX-512 VNNI or AVX2) or Q8_0_R4 weights (VNNI): 8-bit
// products for the prompt too (each group's blocks read once per tile of rows; no dequantized
// copy of the weights).
void integer_gemm(float* y, int64_t ldy, const float* x, int64_t ldx, int64_t M, const WeightView& W,
                  const float* bias, bool accumulate) {
  const int64_t span = (W.col_offset + W.cols + 31) / 32 * 32, nb = span / 32;
  const auto* xq = reinterpret_cast<const BlockQ8_0*>(quantized_activations(x, ldx, M, W, 32, span));
  const bool vnni = active_kernels().gemv_quant >= KernelSet::Avx512;
  // Blocked for the caches: a chunk of groups (a few hundred KB of weights) meets one tile of
  // activation rows (tens of KB) at a time, so neither streams from memory once per group.
  constexpr int64_t kGroupsPerChunk = 16, kRowsPerTile = 32;
  const int64_t groups = (W.row_offset + W.rows + 3) / 4, chunks = (groups + kGroupsPerChunk - 1) / kGroupsPerChunk;
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t g0 = c * kGroupsPerChunk, n = std::min(groups, g0 + kGroupsPerChunk) - g0;
    const uint8_t* group[kGroupsPerChunk];
    for (int64_t k = 0; k < n; ++k) group[k] = W.at(4 * (g0 + k), 0);
    thread_local std::vector<float> tile;
    float* out = buffer(tile, size_t(4 * kGroupsPerChunk * kRowsPerTile));
    const int64_t ldo = 4 * kGroupsPerChunk;
    for (int64_t m0 = 0; m0 < M; m0 += kRowsPerTile) {
      const int64_t rows = std::min(kRowsPerTile, M - m0);
      if (W.dtype == DType::Q8_0_R4) vnni::gemm_q8_0(group, int(n), xq + m0 * nb, nb, rows, nb, out, ldo);
      else if (vnni) vnni::gemm_q4_0(group, int(n), xq + m0 * nb, nb, rows, nb, out, ldo);
      else avx2::gemm_q4_0(group, int(n), xq + m0 * nb, nb, rows, nb, out, ldo);
      for (int64_t j = 0; j < 4 * n; ++j) {
        const int64_t col = 4 * g0 + j - W.row_offset;
        if (col < 0 || col >= W.rows) continue;
        for (int64_t m = 0; m < rows; ++m) store(y, ldy, m0 + m, col, out[m * ldo + j], bias, accumulate);
      }
    }
  }
}

// AMX tiles dequantize the weights as they pack them (amx_driver.h): no panels.
void amx_products(float* y, int64_t ldy, const float* x, int64_t ldx, int64_t M, const WeightView& W,
                  const float* bias, bool accumulate) {
  thread_local std::vector<uint8_t> workspace;
  amx::matmul_gemm_bf16(y, ldy, x, ldx, M, W, bias, accumulate,
                        buffer(workspace, amx::gemm_workspace_bytes(M, W.cols, omp_get_max_threads())));
}

// Many rows (or exact products): dequantized panels through the float kernels.
void panel_products(float* y, int64_t ldy, const float* x, int64_t ldx, int64_t M, const WeightView& W,
                    const float* bias, Precision precision, bool accumulate) {
  // Q8 takes bf16 tiles only where a real bf16 kernel runs them; elsewhere f32 is as fast.
  const KernelSet bf16_kernel = active_kernels().gemm_bf16;
  const bool to_bf16 = precision == Precision::BF16 ||
                       (precision == Precision::Q8 && bf16_kernel >= KernelSet::Avx512Bf16);
  if (to_bf16 && active_kernels().gemm_quant == KernelSet::Amx) return amx_products(y, ldy, x, ldx, M, W, bias, accumulate);
  const Precision inner = to_bf16 ? Precision::BF16 : Precision::F32;
  const int64_t N = W.rows, K = W.cols;
  const int nth = omp_get_max_threads();
  // Enough panels to share among the threads, each a few MB at most: the float kernel packs
  // the activations again for every panel, so many small panels cost a long prompt dearly.
  const int64_t by_threads = (N + 2 * nth - 1) / (2 * nth);
  const int64_t by_size = (4 << 20) / std::max<int64_t>(2 * K, 1);
  const int64_t chunk = std::clamp<int64_t>((std::min(by_threads, by_size) + 15) / 16 * 16, 16, 1024);
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
        dequantized_span(W, n0 + r, 0, K, row + r * K);
        continue;
      }
      dequantized_span(W, n0 + r, 0, K, row);
      if (cpu_features().avx512_bf16) avx512::to_bf16_row(row, packed + r * K, K);
      else
        for (int64_t k = 0; k < K; ++k) packed[r * K + k] = f32_to_bf16(row[k]);
    }
    const WeightView panel = to_bf16 ? WeightView::dense(DType::BF16, packed, rows, K)
                                     : WeightView::dense(DType::F32, row, rows, K);
    matmul(y + n0, ldy, x, ldx, M, panel, bias ? bias + n0 : nullptr, inner, accumulate);
  }
}

}  // namespace

namespace {

// A tier as the 8-bit products run it (AVX-512 without VNNI takes the AVX2 kernels).
KernelSet quant_tier(KernelSet k) { return choose_kernels(k, false).gemv_quant; }

}  // namespace

Prefetch fixed_prefetch() { return cpu_features().intel ? Prefetch{2048, 4096} : Prefetch{}; }

void dequantized_span(const WeightView& W, int64_t r, int64_t c0, int64_t n, float* out) {
  const int64_t valid = std::clamp<int64_t>(W.cols - c0, 0, n);
  if (valid == 0) return std::fill(out, out + n, 0.f);
  const int64_t B = block_elems(W.dtype), first = W.col_offset + c0, b0 = first / B, skip = first % B;
  const int64_t nb = (skip + valid + B - 1) / B, stored = W.row_offset + r, g = rows_per_group(W.dtype);
  const uint8_t* blocks = W.at(stored, b0 * B);
  thread_local std::vector<float> whole;
  const bool in_place = skip == 0 && nb * B <= n;
  float* dst = in_place ? out : buffer(whole, size_t(nb * B));
  const DType plain = plain_type(W.dtype);
  if ((plain == DType::Q4_0 || plain == DType::Q8_0) && active_kernels().gemv_quant >= KernelSet::Avx2) {
    avx2::dequantize_lane(W.dtype, blocks, int(stored % g), nb, dst);
  } else if (g > 1) {
    thread_local std::vector<uint8_t> plain_blocks;
    uint8_t* p = buffer(plain_blocks, row_bytes(plain, nb * B));
    deinterleave_blocks(W.dtype, blocks, int(stored % g), p, nb);
    dequantize(plain, p, dst, nb * B);
  } else {
    dequantize(W.dtype, blocks, dst, nb * B);
  }
  if (!in_place) std::copy(dst + skip, dst + skip + valid, out);
  std::fill(out + valid, out + n, 0.f);
}

float quant_dot(KernelSet k, DType wt, const void* w, const void* x_blocks, int64_t nb) {
  return dot(quant_tier(k), wt, static_cast<const uint8_t*>(w), x_blocks, nb);
}

void quant_dot4(KernelSet k, DType wt, const void* group, const BlockQ8_0* x, int64_t nb, float* out) {
  dot4(quant_tier(k), wt, static_cast<const uint8_t*>(group), x, nb, out);
}

void matmul_quantized(float* y, int64_t ldy, const float* x, int64_t ldx, int64_t M, const WeightView& W,
                      const float* bias, Precision precision, bool accumulate) {
  if (precision != Precision::Q8) return panel_products(y, ldy, x, ldx, M, W, bias, precision, accumulate);
  if (M <= kDotMaxRows) return integer_products(y, ldy, x, ldx, M, W, bias, accumulate);
  const KernelSet k = active_kernels().gemv_quant;
  const bool amx_tiles = active_kernels().gemm_quant == KernelSet::Amx && M >= kAmxMinRows;
  if ((W.dtype == DType::Q4_0_R4 && k >= KernelSet::Avx2 && !amx_tiles) ||
      (W.dtype == DType::Q8_0_R4 && k >= KernelSet::Avx512 && M <= kQ8GemmMaxRows))
    return integer_gemm(y, ldy, x, ldx, M, W, bias, accumulate);
  if (M <= kDotMaxBatchRows) return integer_products(y, ldy, x, ldx, M, W, bias, accumulate);
  panel_products(y, ldy, x, ldx, M, W, bias, precision, accumulate);
}

}  // namespace adallava
