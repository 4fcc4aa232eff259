#include "kernels/matmul.h"

#include <chrono>

#include <omp.h>

#include <algorithm>
#include <vector>

#include "kernels/matmul_amx.h"
#include "kernels/matmul_avx2.h"
#include "kernels/matmul_avx512.h"
#include "kernels/matmul_quant.h"
#include "tensor/quant.h"

namespace adallava {

WeightView WeightView::row_block(int64_t r0, int64_t n) const {
  WeightView v = *this;
  v.rows = n;
  const int64_t first = row_offset + r0, g = rows_per_group(dtype);
  v.data = at(first, 0);
  v.row_offset = first % g;
  return v;
}

WeightView WeightView::col_block(int64_t c0, int64_t n) const {
  WeightView v = *this;
  v.cols = n;
  if (is_quantized(dtype)) {  // start at the block holding the first column
    const int64_t first = col_offset + c0, B = block_elems(dtype);
    v.data = at(0, first / B * B);
    v.col_offset = first % B;
    return v;
  }
  v.data = at(0, c0);
  return v;
}

void weight_row(const WeightView& W, int64_t r, float* out) {
  if (!is_quantized(W.dtype)) {
    if (W.col_stride == 1) return to_f32(W.dtype, W.at(r, 0), out, size_t(W.cols));
    for (int64_t c = 0; c < W.cols; ++c) to_f32(W.dtype, W.at(r, c), out + c, 1);
    return;
  }
  const int64_t B = block_elems(W.dtype);
  const int64_t span = (W.col_offset + W.cols + B - 1) / B * B;  // whole blocks covering the view
  const int64_t stored = W.row_offset + r;
  if (rows_per_group(W.dtype) > 1) {  // interleaved: this row's blocks, made plain first
    const DType plain = plain_type(W.dtype);
    thread_local std::vector<uint8_t> plain_blocks;
    plain_blocks.resize(row_bytes(plain, span));
    deinterleave_blocks(W.dtype, W.at(stored, 0), int(stored % rows_per_group(W.dtype)), plain_blocks.data(), span / B);
    WeightView row = WeightView::dense(plain, plain_blocks.data(), 1, W.cols);
    row.row_stride = span;
    row.col_offset = W.col_offset;
    return weight_row(row, 0, out);
  }
  if (W.col_offset == 0 && span == W.cols) return dequantize(W.dtype, W.at(r, 0), out, W.cols);
  thread_local std::vector<float> blocks;
  blocks.resize(size_t(span));
  dequantize(W.dtype, W.at(r, 0), blocks.data(), span);
  std::copy(blocks.begin() + W.col_offset, blocks.begin() + W.col_offset + W.cols, out);
}

namespace {


float round_bf16(float f) {
  return bf16_to_f32(f32_to_bf16(f));
}

// The calling thread's scratch for the SIMD kernels, grown to at least `bytes` and kept.
uint8_t* scratch(size_t bytes) {
  thread_local std::vector<uint8_t> buffer;
  if (buffer.size() < bytes) buffer.resize(bytes);
  return buffer.data();
}

// Up to this many activation rows (a batch of decoding requests) a weight-streaming GEMV beats
// packing panels: 8 where AVX-512's 32 registers hold 8 rows' sums for 2 weight rows, else 4.
int64_t gemv_max_rows(KernelSet k) { return k == KernelSet::Avx512 || k == KernelSet::Avx512Bf16 ? 8 : 4; }

}  // namespace

void matmul_reference(float* y, int64_t ldy, const float* x, int64_t ldx, int64_t M, const WeightView& W,
                      const float* bias, Precision precision, bool accumulate) {
  const bool bf16 = precision == Precision::BF16;
  std::vector<float> row(size_t(W.cols));
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < W.rows; ++n) {
      weight_row(W, n, row.data());
      double acc = bias ? bias[n] : 0.0;
      for (int64_t k = 0; k < W.cols; ++k) {
        float a = x[m * ldx + k], w = row[size_t(k)];
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
      weight_row(W, n, wrow.data());
      if (bf16)
        for (float& w : wrow) w = round_bf16(w);
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

MatmulCounter& matmul_counter() {
  static MatmulCounter c;
  return c;
}

namespace {

void dispatch(float* y, int64_t ldy, const float* x, int64_t ldx, int64_t M, const WeightView& W, const float* bias,
              Precision precision, bool accumulate) {
  if (W.cols == 0) {  // empty sum: just the bias
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < W.rows; ++n) {
        float v = bias ? bias[n] : 0.f;
        y[m * ldy + n] = accumulate ? y[m * ldy + n] + v : v;
      }
    return;
  }
  if (is_quantized(W.dtype)) return matmul_quantized(y, ldy, x, ldx, M, W, bias, precision, accumulate);
  if (precision == Precision::Q8) precision = Precision::F32;  // float weights: see Precision
  // Few rows: stream the weights once (memory bound). Under bf16 precision the activations are
  // rounded to bf16 first, so both paths compute the same products; f32/f16 weights under bf16
  // precision take the packed path, which rounds them the same way.
  const bool bf16 = precision == Precision::BF16;
  const KernelChoice& choice = active_kernels();
  const bool gemv = M <= gemv_max_rows(bf16 ? choice.gemv_bf16 : choice.gemv_f32) && W.col_stride == 1 &&
                    (!bf16 || W.dtype == DType::BF16);
  KernelSet k = gemv ? (bf16 ? choice.gemv_bf16 : choice.gemv_f32) : (bf16 ? choice.gemm_bf16 : choice.gemm_f32);
  // AMX reads bf16 weights in place; other weights under bf16 precision take the best bf16
  // kernel below it (the one decode uses).
  if (k == KernelSet::Amx && (W.dtype != DType::BF16 || W.col_stride != 1)) k = choice.gemv_bf16;
  const int nth = omp_get_max_threads();
  switch (k) {
    case KernelSet::Portable:
      return matmul_portable(y, ldy, x, ldx, M, W, bias, precision, accumulate);
    case KernelSet::Avx2:
      if (gemv)
        return avx2::matmul_gemv(y, ldy, x, ldx, M, W, bias, accumulate, bf16,
                                 scratch(avx2::gemv_workspace_bytes(bf16 ? M : 0, W.cols)));
      return avx2::matmul_gemm(y, ldy, x, ldx, M, W, bias, precision, accumulate,
                               scratch(avx2::gemm_workspace_bytes(M, W.cols, bf16, nth)));
    case KernelSet::Avx512:
    case KernelSet::Avx512Bf16: {
      const bool dpbf16 = k == KernelSet::Avx512Bf16;
      if (gemv && dpbf16)
        return avx512::matmul_gemv_bf16(y, ldy, x, ldx, M, W, bias, accumulate,
                                        scratch(avx512::gemv_bf16_workspace_bytes(M, W.cols)));
      if (gemv)
        return avx512::matmul_gemv(y, ldy, x, ldx, M, W, bias, accumulate, bf16,
                                   scratch(avx512::gemv_workspace_bytes(bf16 ? M : 0, W.cols)));
      return avx512::matmul_gemm(y, ldy, x, ldx, M, W, bias, precision, dpbf16, accumulate,
                                 scratch(avx512::gemm_workspace_bytes(M, W.cols, nth)));
    }
    case KernelSet::Amx:
      return amx::matmul_gemm_bf16(y, ldy, x, ldx, M, W, bias, accumulate,
                                   scratch(amx::gemm_workspace_bytes(M, W.cols, nth)));
  }
}

}  // namespace

void matmul(float* y, int64_t ldy, const float* x, int64_t ldx, int64_t M, const WeightView& W, const float* bias,
            Precision precision, bool accumulate) {
  if (M <= 0 || W.rows <= 0) return;
  MatmulCounter& counter = matmul_counter();
  if (!counter.on.load(std::memory_order_relaxed)) return dispatch(y, ldy, x, ldx, M, W, bias, precision, accumulate);
  const auto t0 = std::chrono::steady_clock::now();
  dispatch(y, ldy, x, ldx, M, W, bias, precision, accumulate);
  const std::chrono::duration<double> dt = std::chrono::steady_clock::now() - t0;
  counter.flops.fetch_add(2.0 * double(M) * double(W.rows) * double(W.cols), std::memory_order_relaxed);
  counter.seconds.fetch_add(dt.count(), std::memory_order_relaxed);
}

}  // namespace adallava
