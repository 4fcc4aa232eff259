// AVX2 dequantization of Q4_0 / Q8_0 rows, plain or one lane of the interleaved layouts, for
// the dequantized panels that long prompts run on. Bit-exact with tensor/quant.h's dequantize
// (each value is one int-to-float conversion and one product).
#pragma once
#include <cstdint>

#include "tensor/dtype.h"
#include "tensor/quant.h"

namespace adallava::avx2 {

// nb blocks of row `lane` (0 for plain types) starting at the block at `blocks` → out (nb·32).
void dequantize_lane(DType t, const uint8_t* blocks, int lane, int64_t nb, float* out);

// quantize_activation_q8_0 (tensor/quant.h) with the same operations: the same blocks, bit for bit.
void quantize_activation_q8_0(const float* x, BlockQ8_0* out, int64_t n);

}  // namespace adallava::avx2
