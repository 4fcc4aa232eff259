// Products with block-quantized weights (tensor/quant.h). Under Precision::Q8 a few activation
// rows (decode) are quantized to 8-bit blocks and meet the weights in integer dot products
// read straight from the stored blocks; otherwise each thread dequantizes a panel of weight rows
// (to f32 under F32, bf16 under BF16 and Q8) and runs the float kernels on it.
#pragma once
#include <cstdint>

#include "kernels/matmul.h"
#include "tensor/quant.h"

namespace adallava {

void matmul_quantized(float* y, int64_t ldy, const float* x, int64_t ldx, int64_t M, const WeightView& W,
                      const float* bias, Precision precision, bool accumulate);

// Σ w·x over nb blocks by one kernel set's code (tests compare every set with the portable one).
float quant_dot(KernelSet k, DType wt, const void* w, const void* x_blocks, int64_t nb);
// The same for the four rows of an interleaved group (Q4_0_R4, Q8_0_R4) into out[4].
void quant_dot4(KernelSet k, DType wt, const void* group, const BlockQ8_0* x, int64_t nb, float* out);

}  // namespace adallava
