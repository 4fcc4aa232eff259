// SIMD dot products of one quantized weight row with Q8_0 activation blocks: nb blocks of 32.
// AVX2 multiplies bytes with vpmaddubsw, AVX-512 VNNI with vpdpbusd; both sum exactly the
// integers the portable vec_dot_q8_0 sums, then scale each block in f32.
#pragma once
#include <cstdint>

#include "tensor/quant.h"

namespace adallava {
// dot4_*: the four rows of an interleaved group (Q4_0_R4, Q8_0_R4) at once into out[4].
namespace avx2 {
float dot_q4_0(const uint8_t* w, const BlockQ8_0* x, int64_t nb);
float dot_q8_0(const uint8_t* w, const BlockQ8_0* x, int64_t nb);
void dot4_q4_0(const uint8_t* group, const BlockQ8_0* x, int64_t nb, float* out);
void dot4_q8_0(const uint8_t* group, const BlockQ8_0* x, int64_t nb, float* out);
// The K types against Q8_K activations: nb super-blocks of 256. Each block prefetches the
// block `next` bytes on (the next row's, which the caller reads next), when next > 0.
float dot_q4_k(const uint8_t* w, const BlockQ8_K* x, int64_t nb, int64_t next = 0);
float dot_q6_k(const uint8_t* w, const BlockQ8_K* x, int64_t nb, int64_t next = 0);
// As vnni::gemm_q4_0 below, with vpmaddubsw.
void gemm_q4_0(const uint8_t* const* groups, int n_groups, const BlockQ8_0* x, int64_t x_stride, int64_t M,
               int64_t nb, float* out, int64_t ldo);
}  // namespace avx2
namespace vnni {
float dot_q4_0(const uint8_t* w, const BlockQ8_0* x, int64_t nb);
float dot_q8_0(const uint8_t* w, const BlockQ8_0* x, int64_t nb);
void dot4_q4_0(const uint8_t* group, const BlockQ8_0* x, int64_t nb, float* out);
void dot4_q8_0(const uint8_t* group, const BlockQ8_0* x, int64_t nb, float* out);
// M activation rows (row m's blocks at x + m·x_stride) against n_groups Q4_0_R4 groups:
// out[m·ldo + 4·k + lane] for group k.
void gemm_q4_0(const uint8_t* const* groups, int n_groups, const BlockQ8_0* x, int64_t x_stride, int64_t M,
               int64_t nb, float* out, int64_t ldo);
// The same for Q8_0_R4 groups; each row's result equals dot4_q8_0's for that row, bit for bit.
void gemm_q8_0(const uint8_t* const* groups, int n_groups, const BlockQ8_0* x, int64_t x_stride, int64_t M,
               int64_t nb, float* out, int64_t ldo);
}  // namespace vnni
}  // namespace adallava
