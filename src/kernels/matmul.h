// y = x · Wᵀ (+ bias): the one product every linear layer, attention score and projection uses.
// W is any strided view of stored weights (f32, f16 or bf16); activations are f32 and every
// sum is accumulated in f32. Precision::BF16 rounds both operands to bf16 before the product
// (as PyTorch's bf16 matmuls do) and runs on the fastest bf16 kernel of the CPU (kernel_set.h).
#pragma once
#include <cstddef>
#include <atomic>
#include <cstdint>

#include "kernels/kernel_set.h"
#include "tensor/dtype.h"

namespace adallava {

// F32: exact products. BF16: operands rounded to bf16. Q8: llama.cpp's way with quantized
// weights (activations quantized to 8 bits per block, integer products; many rows run on
// dequantized bf16 tiles where the CPU has a bf16 kernel); float weights under Q8 run as F32.
enum class Precision { F32, BF16, Q8 };
inline const char* precision_name(Precision p) { return p == Precision::BF16 ? "bf16" : p == Precision::Q8 ? "q8" : "f32"; }

// A [rows, cols] matrix; element (r, c) lives at data + (r * row_stride + c * col_stride) elements.
// In a linear layer rows are output features (N) and cols input features (K), as PyTorch stores them.
// A block-quantized matrix (tensor/quant.h) has col_stride 1 and rows of row_stride elements
// (whole blocks); its column c is element col_offset + c of the row, so a column block may start
// inside a quantization block. An interleaved one (Q4_0_R4, ...) stores rows in groups of four;
// its row r is row row_offset + r counted from the group at data.
struct WeightView {
  DType dtype = DType::F32;
  const void* data = nullptr;
  int64_t rows = 0, cols = 0;
  int64_t row_stride = 0, col_stride = 1;
  int64_t col_offset = 0;  // quantized only: < block_elems(dtype)
  int64_t row_offset = 0;  // interleaved only: < rows_per_group(dtype)

  static WeightView dense(DType t, const void* p, int64_t rows, int64_t cols) { return {t, p, rows, cols, cols, 1}; }
  // The same matrix read transposed (e.g. a V cache [T, d] used as W = Vᵀ [d, T]); float only.
  WeightView transposed() const { return {dtype, data, cols, rows, col_stride, row_stride}; }
  WeightView row_block(int64_t r0, int64_t n) const;
  WeightView col_block(int64_t c0, int64_t n) const;
  // Element (r, c) of a float matrix; for a quantized one, the block that holds (r, c + col_offset)
  // when that is a block's first element (interleaved: that block of the group holding stored
  // row r, counted from data).
  const uint8_t* at(int64_t r, int64_t c) const {
    if (is_quantized(dtype)) {
      const int64_t g = rows_per_group(dtype);
      return static_cast<const uint8_t*>(data) + row_bytes(dtype, row_stride) * size_t(r / g * g) +
             row_bytes(dtype, c) * size_t(g);
    }
    return static_cast<const uint8_t*>(data) + (r * row_stride + c * col_stride) * int64_t(dtype_size(dtype));
  }
};

// Row r of W, columns [0, W.cols), as floats (any dtype; quantized blocks are dequantized).
void weight_row(const WeightView& W, int64_t r, float* out);

// y[m, n] (+)= sum_k x[m, k] * W[n, k] + bias[n]   for m < M, n < W.rows, k < W.cols.
// x rows are ldx floats apart, y rows ldy floats apart. bias may be null. With accumulate the
// product is added to y (bias too, if given).
void matmul(float* y, int64_t ldy, const float* x, int64_t ldx, int64_t M, const WeightView& W, const float* bias,
            Precision precision, bool accumulate = false);

// Work and wall time of the products matmul ran while counting is on, summed over the threads
// that ran them (the training benchmark's GEMM GFLOP/s). Off by default: then it costs a load.
struct MatmulCounter {
  std::atomic<bool> on{false};
  std::atomic<double> flops{0}, seconds{0};
  void reset() { flops = 0, seconds = 0; }
};
MatmulCounter& matmul_counter();

// The simple oracle the fast path is tested against (double accumulation).
void matmul_reference(float* y, int64_t ldy, const float* x, int64_t ldx, int64_t M, const WeightView& W,
                      const float* bias, Precision precision, bool accumulate = false);

}  // namespace adallava
