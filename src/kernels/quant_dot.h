// SIMD dot products of one quantized weight row with Q8_0 activation blocks: nb blocks of 32.
// AVX2 multiplies bytes with vpmaddubsw, AVX-512 VNNI with vpdpbusd; both sum exactly the
// integers the portable vec_dot_q8_0 sums, then scale each block in f32.
#pragma once
#include <cstdint>

#include "tensor/quant.h"

namespace adallava {
namespace avx2 {
float dot_q4_0(const uint8_t* w, const BlockQ8_0* x, int64_t nb);
float dot_q8_0(const uint8_t* w, const BlockQ8_0* x, int64_t nb);
}  // namespace avx2
namespace vnni {
float dot_q4_0(const uint8_t* w, const BlockQ8_0* x, int64_t nb);
float dot_q8_0(const uint8_t* w, const BlockQ8_0* x, int64_t nb);
}  // namespace vnni
}  // namespace adallava
