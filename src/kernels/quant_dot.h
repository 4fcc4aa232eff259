// SIMD dot products of one quantized weight row with Q8_0 activation blocks: nb blocks of 32.
// AVX2 multiplies bytes with vpmaddubsw, AVX-512 VNNI with vpdpbusd; both sum exactly the
// integers the portable vec_dot_q8_0 sums, then scale each block in f32.
#pragma once
#include <cstdint>

#include "tensor/quant.h"

namespace adallava {
// Software prefetch while a thread streams its groups of weights: each block asks for the bytes
// `near` (into L1) and `far` (into L2) ahead of it; 0: none. Which distances keep the read
// rate depends on the core (measured, 7B decode shapes, 2 threads): on AMD Zen 5 one block of
// the next group (near = the group's bytes) lifted decode from 0.6-0.8 to 0.9-0.97 of the read
// roofline; on Intel Xeon (Emerald Rapids) that read 24-27 GB/s where near 2 KB with far 4 KB
// read 29-31, the rate of a plain read.
struct Prefetch {
  int64_t near = 0, far = 0;
};

// The fixed distances of this CPU, where it wants them (Intel), else none (on AMD the decode
// prefetches the next group's block instead).
Prefetch fixed_prefetch();

// The prefetches for the `lines` cache lines of a block at `block` (static: each kernel file
// keeps its own copy, compiled with its own flags).
static inline void prefetch(const uint8_t* block, Prefetch p, int lines) {
  for (int l = 0; l < lines; ++l) {
    if (p.near) __builtin_prefetch(block + p.near + 64 * l, 0, 3);
    if (p.far) __builtin_prefetch(block + p.far + 64 * l, 0, 2);
  }
}

// dot4_*: the four rows of an interleaved group (Q4_0_R4, Q8_0_R4) at once into out[4].
namespace avx2 {
float dot_q4_0(const uint8_t* w, const BlockQ8_0* x, int64_t nb);
float dot_q8_0(const uint8_t* w, const BlockQ8_0* x, int64_t nb);
void dot4_q4_0(const uint8_t* group, const BlockQ8_0* x, int64_t nb, float* out, Prefetch p = {});
void dot4_q8_0(const uint8_t* group, const BlockQ8_0* x, int64_t nb, float* out, Prefetch p = {});
// The K types against Q8_K activations: nb super-blocks of 256, prefetching as p says.
float dot_q4_k(const uint8_t* w, const BlockQ8_K* x, int64_t nb, Prefetch p = {});
float dot_q6_k(const uint8_t* w, const BlockQ8_K* x, int64_t nb, Prefetch p = {});
// As vnni::gemm_q4_0 below, with vpmaddubsw.
void gemm_q4_0(const uint8_t* const* groups, int n_groups, const BlockQ8_0* x, int64_t x_stride, int64_t M,
               int64_t nb, float* out, int64_t ldo);
}  // namespace avx2
namespace vnni {
float dot_q4_0(const uint8_t* w, const BlockQ8_0* x, int64_t nb);
float dot_q8_0(const uint8_t* w, const BlockQ8_0* x, int64_t nb);
void dot4_q4_0(const uint8_t* group, const BlockQ8_0* x, int64_t nb, float* out, Prefetch p = {});
void dot4_q8_0(const uint8_t* group, const BlockQ8_0* x, int64_t nb, float* out, Prefetch p = {});
// M activation rows (row m's blocks at x + m·x_stride) against n_groups Q4_0_R4 groups:
// out[m·ldo + 4·k + lane] for group k.
void gemm_q4_0(const uint8_t* const* groups, int n_groups, const BlockQ8_0* x, int64_t x_stride, int64_t M,
               int64_t nb, float* out, int64_t ldo);
// The same for Q8_0_R4 groups; each row's result equals dot4_q8_0's for that row, bit for bit.
void gemm_q8_0(const uint8_t* const* groups, int n_groups, const BlockQ8_0* x, int64_t x_stride, int64_t M,
               int64_t nb, float* out, int64_t ldo);
}  // namespace vnni
}  // namespace adallava
