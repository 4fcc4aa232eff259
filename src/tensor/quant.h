// llama.cpp's block-quantized weight types, byte for byte as GGUF stores them, and the 8-bit
// activation blocks their integer products use. Dequantization is bit-exact with ggml's
// to_float (this file is compiled without FMA contraction: Q4_K rounds d·sc·q and dmin·m apart).
//
//   Q8_0  34 B / 32:  f16 d, 32 × i8 q                 x = q·d
//   Q4_0  18 B / 32:  f16 d, 16 B nibbles              x = (q − 8)·d; low nibbles are 0..15, high 16..31
//   Q5_0  22 B / 32:  f16 d, u32 fifth bits, 16 B      x = (q − 16)·d
//   Q4_K 144 B / 256: f16 d, f16 dmin, 12 B of 6-bit scales and mins (8 sub-blocks of 32),
//                     128 B nibbles                    x = d·sc·q − dmin·m
//   Q6_K 210 B / 256: 128 B low nibbles, 64 B high 2-bit pairs, 16 × i8 scales, f16 d
//                                                      x = d·sc·(q − 32)
//   Q4_0_R4, Q8_0_R4: four rows of Q4_0 / Q8_0 interleaved block by block: for each block
//                     index the four f16 scales (8 B), then the four rows' values (4 × 16 or
//                     4 × 32 B). The same bytes as the four rows; one vector load per block
//                     feeds four rows' products.
#pragma once
#include <cstddef>
#include <cstdint>

#include "tensor/dtype.h"

namespace adallava {

// n elements (whole blocks) of type t at src to float.
void dequantize(DType t, const void* src, float* dst, int64_t n);

// Weight quantization from float, n a multiple of the block: Q8_0 and Q4_0 as ggml's reference
// quantizers do it, Q4_K with a plain per-sub-block fit; used by `convert` and by tests.
void quantize(DType t, const float* src, void* dst, int64_t n);

// The interleaved type of a plain one (Q4_0 → Q4_0_R4, Q8_0 → Q8_0_R4; others: none) and back.
DType interleaved_type(DType t);
DType plain_type(DType t);
inline bool has_interleaved_type(DType t) { return t == DType::Q4_0 || t == DType::Q8_0; }
// rows (a multiple of 4) × cols of plain blocks to the interleaved layout.
void interleave_rows(DType plain, const void* src, void* dst, int64_t rows, int64_t cols);
// Lane (0..3) of an interleaved group as nb plain blocks; group_block points at a group's block.
void deinterleave_blocks(DType interleaved, const void* group_block, int lane, void* dst, int64_t nb);

// Activations for the integer products: Q8_0 blocks (with Q8_0, Q4_0, Q5_0 weights) or Q8_K
// blocks of 256 (with the K types), which also keep the sums of each 16 values.
struct BlockQ8_0 {
  float d;
  int8_t q[32];
  int32_t sum;    // Σq, for the weights' zero points (Q4_0's −8, Q5_0's −16)
  int32_t zero8;  // −8·Σq, ready to broadcast as Q4_0 products' starting sum
};
struct BlockQ8_K {
  float d;
  int8_t q[256];
  int16_t bsums[16];
};
// Whether a weight type's products take Q8_K activations (the K types) or Q8_0 ones.
inline bool uses_q8_k(DType weight) { return weight == DType::Q4_K || weight == DType::Q6_K; }
void quantize_activation_q8_0(const float* x, BlockQ8_0* out, int64_t n);
void quantize_activation_q8_k(const float* x, BlockQ8_K* out, int64_t n);

// Σ_i w[i]·x[i] over n elements of a quantized weight row and a quantized activation row
// (integer products per block, scaled in f32). Portable reference for the SIMD kernels.
float vec_dot_q8_0(DType wt, const void* w, const BlockQ8_0* x, int64_t n);
float vec_dot_q8_k(DType wt, const void* w, const BlockQ8_K* x, int64_t n);

}  // namespace adallava
