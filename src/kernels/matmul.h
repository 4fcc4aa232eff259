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

enum class Precision { F32, BF16 };

// A [rows, cols] matrix; element (r, c) lives at data + (r * row_stride + c * col_stride) elements.
// In a linear layer rows are output features (N) and cols input features (K), as PyTorch stores them.
struct WeightView {
  DType dtype = DType::F32;
  const void* data = nullptr;
  int64_t rows = 0, cols = 0;
  int64_t row_stride = 0, col_stride = 1;

  static WeightView dense(DType t, const void* p, int64_t rows, int64_t cols) { return {t, p, rows, cols, cols, 1}; }
  // The same matrix read transposed (e.g. a V cache [T, d] used as W = Vᵀ [d, T]).
  WeightView transposed() const { return {dtype, data, cols, rows, col_stride, row_stride}; }
  WeightView row_block(int64_t r0, int64_t n) const;
  WeightView col_block(int64_t c0, int64_t n) const;
  const uint8_t* at(int64_t r, int64_t c) const {
    return static_cast<const uint8_t*>(data) + (r * row_stride + c * col_stride) * int64_t(dtype_size(dtype));
  }
};

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
