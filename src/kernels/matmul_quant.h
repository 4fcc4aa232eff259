// Products with block-quantized weights (tensor/quant.h). Under Precision::Q8 a few activation
// rows (decode) are quantized to 8-bit blocks and meet the weights in integer dot products
// read straight from the stored blocks; otherwise each thread dequantizes a panel of weight rows
// (to f32 under F32, bf16 under BF16 and Q8) and runs the float kernels on it, except on AMX,
// whose driver dequantizes the weights into its tiles as it packs them.
#pragma once
#include <cstdint>

#include "kernels/matmul.h"
#include "tensor/quant.h"

namespace adallava {

void matmul_quantized(float* y, int64_t ldy, const float* x, int64_t ldx, int64_t M, const WeightView& W,
                      const float* bias, Precision precision, bool accumulate);

// Row r of a quantized W, columns [c0, c0 + n) as floats; columns at or past W.cols are zero.
void dequantized_span(const WeightView& W, int64_t r, int64_t c0, int64_t n, float* out);

// Σ w·x over nb blocks by one kernel set's code (tests compare every set with the portable one).
float quant_dot(KernelSet k, DType wt, const void* w, const void* x_blocks, int64_t nb);
// The same for the four rows of an interleaved group (Q4_0_R4, Q8_0_R4) into out[4].
void quant_dot4(KernelSet k, DType wt, const void* group, const BlockQ8_0* x, int64_t nb, float* out);

}  // namespace adallava
