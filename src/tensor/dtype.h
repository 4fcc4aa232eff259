// Element types of stored weights, and exact conversions between them and float. Besides the
// float types, llama.cpp's block-quantized types (GGUF): a row is stored as blocks of 32 or 256
// elements, each with its own scales (layouts in tensor/quant.h). The _R4 types are the same
// blocks with four rows interleaved block by block (made at load for the integer kernels).
#pragma once
#include <cstdint>
#include <cstring>
#include <string>

namespace adallava {

enum class DType { F32, F16, BF16, Q8_0, Q4_0, Q5_0, Q4_K, Q6_K, Q8_0_R4, Q4_0_R4 };

inline bool is_quantized(DType t) { return t >= DType::Q8_0; }
// Rows stored together, block by block (4 for the _R4 types, else 1).
inline int64_t rows_per_group(DType t) { return t >= DType::Q8_0_R4 ? 4 : 1; }
// Elements per block (1 for float types) and bytes per block.
int64_t block_elems(DType t);
size_t block_bytes(DType t);
// Bytes of n elements (n a multiple of block_elems(t)).
inline size_t row_bytes(DType t, int64_t n) { return size_t(n / block_elems(t)) * block_bytes(t); }
// Bytes per element of a float type (a quantized type's average, rounded down, is meaningless:
// use row_bytes or bytes_per_element).
inline size_t dtype_size(DType t) { return t == DType::F32 ? 4 : 2; }
inline double bytes_per_element(DType t) { return double(block_bytes(t)) / double(block_elems(t)); }
const char* dtype_name(DType t);

// bf16 -> f32 is exact: the 16 bits are the high half of the float.
inline float bf16_to_f32(uint16_t h) {
  uint32_t u = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// f32 -> bf16, round to nearest even (as torch's .to(bfloat16)); NaN stays NaN.
inline uint16_t f32_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}

float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);

// f rounded to the nearest value of type t (as torch's .to(t) then back to float).
inline float round_to(DType t, float f) {
  if (t == DType::BF16) return bf16_to_f32(f32_to_bf16(f));
  if (t == DType::F16) return f16_to_f32(f32_to_f16(f));
  return f;
}

// Widens n stored elements of type t to float (a quantized type: n whole blocks' elements,
// src at a block's start; bit-exact with ggml's dequantization).
void to_f32(DType t, const void* src, float* dst, size_t n);

}  // namespace adallava
