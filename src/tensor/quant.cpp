#include "tensor/quant.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "tensor/error.h"

namespace adallava {

namespace {

float half(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return f16_to_f32(h);
}

void put_half(uint8_t* p, float f) {
  const uint16_t h = f32_to_f16(f);
  std::memcpy(p, &h, 2);
}

// The symmetric 8-bit scale of n values: d = max|x| / 127 and its inverse (0 for all zeros).
void int8_scale(const float* x, int n, float* d, float* id) {
  float amax = 0.f;
  for (int j = 0; j < n; ++j) amax = std::max(amax, std::fabs(x[j]));
  *d = amax / 127.f;
  *id = *d != 0.f ? 1.f / *d : 0.f;
}

void dequantize_q8_0(const uint8_t* b, float* y) {
  const float d = half(b);
  const auto* q = reinterpret_cast<const int8_t*>(b + 2);
  for (int j = 0; j < 32; ++j) y[j] = float(q[j]) * d;
}

void dequantize_q4_0(const uint8_t* b, float* y) {
  const float d = half(b);
  const uint8_t* q = b + 2;
  for (int j = 0; j < 16; ++j) {
    y[j] = float(int(q[j] & 0xF) - 8) * d;
    y[j + 16] = float(int(q[j] >> 4) - 8) * d;
  }
}

void dequantize_q5_0(const uint8_t* b, float* y) {
  const float d = half(b);
  uint32_t qh;
  std::memcpy(&qh, b + 2, 4);
  const uint8_t* q = b + 6;
  for (int j = 0; j < 16; ++j) {
    const int h0 = int((qh >> j) << 4) & 0x10, h1 = int(qh >> (j + 12)) & 0x10;
    y[j] = float(int((q[j] & 0xF) | h0) - 16) * d;
    y[j + 16] = float(int((q[j] >> 4) | h1) - 16) * d;
  }
}

// Q4_K's 6-bit scale and min of sub-block j (of 8) from the 12 packed bytes.
void scale_min_k4(int j, const uint8_t* s, int* sc, int* m) {
  if (j < 4) {
    *sc = s[j] & 63;
    *m = s[j + 4] & 63;
  } else {
    *sc = (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4);
    *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

void dequantize_q4_k(const uint8_t* b, float* y) {
  const float d = half(b), dmin = half(b + 2);
  const uint8_t* scales = b + 4;
  const uint8_t* q = b + 16;
  for (int j = 0; j < 4; ++j) {  // 64 elements: two sub-blocks sharing 32 bytes
    int sc, m;
    scale_min_k4(2 * j, scales, &sc, &m);
    const float d1 = d * float(sc), m1 = dmin * float(m);
    scale_min_k4(2 * j + 1, scales, &sc, &m);
    const float d2 = d * float(sc), m2 = dmin * float(m);
    for (int l = 0; l < 32; ++l) *y++ = d1 * float(q[l] & 0xF) - m1;
    for (int l = 0; l < 32; ++l) *y++ = d2 * float(q[l] >> 4) - m2;
    q += 32;
  }
}

void dequantize_q6_k(const uint8_t* b, float* y) {
  const uint8_t* ql = b;
  const uint8_t* qh = b + 128;
  const auto* sc = reinterpret_cast<const int8_t*>(b + 192);
  const float d = half(b + 208);
  for (int n = 0; n < 2; ++n) {  // 128 elements each
    for (int l = 0; l < 32; ++l) {
      const int is = l / 16;
      const int q1 = int((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
      const int q2 = int((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
      const int q3 = int((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
      const int q4 = int((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
      y[l] = d * float(sc[is]) * float(q1);
      y[l + 32] = d * float(sc[is + 2]) * float(q2);
      y[l + 64] = d * float(sc[is + 4]) * float(q3);
      y[l + 96] = d * float(sc[is + 6]) * float(q4);
    }
    y += 128;
    ql += 64;
    qh += 32;
    sc += 8;
  }
}

void check_blocks(DType t, int64_t n) {
  if (n % block_elems(t) != 0)
    throw Error(std::string(dtype_name(t)) + ": " + std::to_string(n) + " elements are not whole blocks of " +
                std::to_string(block_elems(t)));
}

}  // namespace

void dequantize(DType t, const void* src, float* dst, int64_t n) {
  check_blocks(t, n);
  const auto* b = static_cast<const uint8_t*>(src);
  const int64_t B = block_elems(t);
  const size_t bytes = block_bytes(t);
  void (*one)(const uint8_t*, float*) = nullptr;
  switch (t) {
    case DType::Q8_0: one = dequantize_q8_0; break;
    case DType::Q4_0: one = dequantize_q4_0; break;
    case DType::Q5_0: one = dequantize_q5_0; break;
    case DType::Q4_K: one = dequantize_q4_k; break;
    case DType::Q6_K: one = dequantize_q6_k; break;
    case DType::Q8_0_R4: case DType::Q4_0_R4:
      throw Error(std::string("internal: ") + dtype_name(t) + " rows are dequantized through deinterleave_blocks");
    default: return to_f32(t, src, dst, size_t(n));
  }
  for (int64_t i = 0; i < n / B; ++i) one(b + size_t(i) * bytes, dst + i * B);
}

namespace {

// Q4_K from floats: each sub-block of 32 gets the affine grid spanning its values (min at most
// 0), its scale and min then rounded to 6 bits of the block's d and dmin. (llama-quantize also
// searches the grid; this plain fit costs a little accuracy, not compatibility.)
void quantize_q4_k(const float* x, uint8_t* b) {
  float scale[8], offset[8];
  for (int j = 0; j < 8; ++j) {
    float lo = 0.f, hi = 0.f;
    for (int l = 0; l < 32; ++l) lo = std::min(lo, x[32 * j + l]), hi = std::max(hi, x[32 * j + l]);
    scale[j] = (hi - lo) / 15.f;
    offset[j] = -lo;
  }
  const float d = *std::max_element(scale, scale + 8) / 63.f, dmin = *std::max_element(offset, offset + 8) / 63.f;
  put_half(b, d);
  put_half(b + 2, dmin);
  const float dq = half(b), dminq = half(b + 2);  // the scales as stored
  int sc[8], m[8];
  for (int j = 0; j < 8; ++j) {
    sc[j] = dq > 0.f ? std::min(63, int(std::lround(scale[j] / dq))) : 0;
    m[j] = dminq > 0.f ? std::min(63, int(std::lround(offset[j] / dminq))) : 0;
  }
  uint8_t* s = b + 4;
  for (int j = 0; j < 4; ++j) {
    s[j] = uint8_t((sc[j] & 63) | ((sc[j + 4] >> 4) << 6));
    s[j + 4] = uint8_t((m[j] & 63) | ((m[j + 4] >> 4) << 6));
    s[j + 8] = uint8_t((sc[j + 4] & 0xF) | ((m[j + 4] & 0xF) << 4));
  }
  uint8_t* q = b + 16;
  for (int j = 0; j < 8; ++j) {
    const float step = dq * float(sc[j]), zero = dminq * float(m[j]);
    for (int l = 0; l < 32; ++l) {
      const int v = step > 0.f ? std::clamp(int(std::lround((x[32 * j + l] + zero) / step)), 0, 15) : 0;
      uint8_t& byte = q[32 * (j / 2) + l];
      byte = j % 2 ? uint8_t(byte | (v << 4)) : uint8_t(v);
    }
  }
}

}  // namespace

void quantize(DType t, const float* x, void* dst, int64_t n) {
  check_blocks(t, n);
  auto* b = static_cast<uint8_t*>(dst);
  if (t == DType::Q4_K) {
    for (int64_t i = 0; i < n / 256; ++i) quantize_q4_k(x + 256 * i, b + 144 * i);
    return;
  }
  for (int64_t i = 0; i < n / 32; ++i, x += 32) {
    if (t == DType::Q8_0) {
      float d, id;
      int8_scale(x, 32, &d, &id);
      put_half(b, d);
      for (int j = 0; j < 32; ++j) b[2 + j] = uint8_t(int8_t(std::lround(x[j] * id)));
      b += 34;
    } else if (t == DType::Q4_0) {
      float amax = 0.f, max = 0.f;  // the value of largest magnitude, with its sign
      for (int j = 0; j < 32; ++j)
        if (std::fabs(x[j]) > amax) amax = std::fabs(x[j]), max = x[j];
      const float d = max / -8.f, id = d != 0.f ? 1.f / d : 0.f;
      put_half(b, d);
      for (int j = 0; j < 16; ++j) {
        const int q0 = std::min(15, int(int8_t(x[j] * id + 8.5f)));
        const int q1 = std::min(15, int(int8_t(x[j + 16] * id + 8.5f)));
        b[2 + j] = uint8_t(q0 | (q1 << 4));
      }
      b += 18;
    } else {
      throw Error(std::string("quantizing to ") + dtype_name(t) + " is not supported (Q8_0, Q4_0 and Q4_K are)");
    }
  }
}

DType interleaved_type(DType t) {
  if (t == DType::Q4_0) return DType::Q4_0_R4;
  if (t == DType::Q8_0) return DType::Q8_0_R4;
  throw Error(std::string(dtype_name(t)) + " has no interleaved layout");
}

DType plain_type(DType t) {
  if (t == DType::Q4_0_R4) return DType::Q4_0;
  if (t == DType::Q8_0_R4) return DType::Q8_0;
  return t;
}

namespace {

// Constant block sizes let the copies compile to plain moves (a 7B model has 10^8 blocks).
template <size_t kBlock>
void interleave_blocks(const uint8_t* s, uint8_t* d, int64_t rows, int64_t nb) {
  constexpr size_t kData = kBlock - 2;
  const size_t row = size_t(nb) * kBlock;
#pragma omp parallel for schedule(static)
  for (int64_t g = 0; g < rows / 4; ++g)
    for (int64_t b = 0; b < nb; ++b) {
      uint8_t* out = d + (size_t(g) * size_t(nb) + size_t(b)) * 4 * kBlock;
      for (int lane = 0; lane < 4; ++lane) {
        const uint8_t* in = s + size_t(4 * g + lane) * row + size_t(b) * kBlock;
        std::memcpy(out + 2 * lane, in, 2);
        std::memcpy(out + 8 + size_t(lane) * kData, in + 2, kData);
      }
    }
}

}  // namespace

void interleave_rows(DType t, const void* src, void* dst, int64_t rows, int64_t cols) {
  const auto* s = static_cast<const uint8_t*>(src);
  auto* d = static_cast<uint8_t*>(dst);
  if (t == DType::Q4_0) return interleave_blocks<18>(s, d, rows, cols / 32);
  if (t == DType::Q8_0) return interleave_blocks<34>(s, d, rows, cols / 32);
  throw Error(std::string(dtype_name(t)) + " has no interleaved layout");
}

void deinterleave_blocks(DType t, const void* group_block, int lane, void* dst, int64_t nb) {
  const size_t bb = block_bytes(t), data = bb - 2;
  const auto* g = static_cast<const uint8_t*>(group_block);
  auto* d = static_cast<uint8_t*>(dst);
  for (int64_t b = 0; b < nb; ++b, g += 4 * bb, d += bb) {
    std::memcpy(d, g + 2 * lane, 2);
    std::memcpy(d + 2, g + 8 + size_t(lane) * data, data);
  }
}

void quantize_activation_q8_0(const float* x, BlockQ8_0* out, int64_t n) {
  for (int64_t i = 0; i < n / 32; ++i, x += 32) {
    float d, id;
    int8_scale(x, 32, &d, &id);
    BlockQ8_0& o = out[i];
    o.d = d;
    o.sum = 0;
    for (int j = 0; j < 32; ++j) {
      o.q[j] = int8_t(std::lrintf(x[j] * id));
      o.sum += o.q[j];
    }
    o.zero8 = -8 * o.sum;
  }
}

void quantize_activation_q8_k(const float* x, BlockQ8_K* out, int64_t n) {
  for (int64_t i = 0; i < n / 256; ++i, x += 256) {
    float d, id;
    int8_scale(x, 256, &d, &id);
    BlockQ8_K& o = out[i];
    o.d = d;
    for (int j = 0; j < 256; ++j) o.q[j] = int8_t(std::lrintf(x[j] * id));
    for (int s = 0; s < 16; ++s) {
      int sum = 0;
      for (int j = 0; j < 16; ++j) sum += o.q[16 * s + j];
      o.bsums[s] = int16_t(sum);
    }
  }
}

float vec_dot_q8_0(DType wt, const void* w, const BlockQ8_0* x, int64_t n) {
  const auto* b = static_cast<const uint8_t*>(w);
  float acc = 0.f;
  for (int64_t i = 0; i < n / 32; ++i) {
    const BlockQ8_0& a = x[i];
    int32_t dot = 0;
    if (wt == DType::Q8_0) {
      const auto* q = reinterpret_cast<const int8_t*>(b + 2);
      for (int j = 0; j < 32; ++j) dot += int32_t(q[j]) * a.q[j];
      acc += half(b) * a.d * float(dot);
      b += 34;
    } else if (wt == DType::Q4_0) {
      for (int j = 0; j < 16; ++j) dot += int32_t(b[2 + j] & 0xF) * a.q[j] + int32_t(b[2 + j] >> 4) * a.q[j + 16];
      acc += half(b) * a.d * float(dot - 8 * a.sum);
      b += 18;
    } else {  // Q5_0
      uint32_t qh;
      std::memcpy(&qh, b + 2, 4);
      for (int j = 0; j < 16; ++j) {
        const int q0 = (b[6 + j] & 0xF) | (int((qh >> j) << 4) & 0x10);
        const int q1 = (b[6 + j] >> 4) | (int(qh >> (j + 12)) & 0x10);
        dot += q0 * a.q[j] + q1 * a.q[j + 16];
      }
      acc += half(b) * a.d * float(dot - 16 * a.sum);
      b += 22;
    }
  }
  return acc;
}

float vec_dot_q8_k(DType wt, const void* w, const BlockQ8_K* x, int64_t n) {
  const auto* b = static_cast<const uint8_t*>(w);
  float acc = 0.f;
  for (int64_t i = 0; i < n / 256; ++i) {
    const BlockQ8_K& a = x[i];
    if (wt == DType::Q4_K) {
      const uint8_t* q = b + 16;
      int32_t scaled = 0, mins = 0;
      for (int s = 0; s < 8; ++s) {
        int sc, m;
        scale_min_k4(s, b + 4, &sc, &m);
        int32_t dot = 0;
        const uint8_t* qs = q + 32 * (s / 2);
        for (int l = 0; l < 32; ++l) dot += int32_t(s % 2 ? qs[l] >> 4 : qs[l] & 0xF) * a.q[32 * s + l];
        scaled += sc * dot;
        mins += m * (a.bsums[2 * s] + a.bsums[2 * s + 1]);
      }
      acc += a.d * (half(b) * float(scaled) - half(b + 2) * float(mins));
      b += 144;
    } else {  // Q6_K
      const uint8_t* ql = b;
      const uint8_t* qh = b + 128;
      const auto* sc = reinterpret_cast<const int8_t*>(b + 192);
      int32_t sum = 0;
      for (int half_block = 0; half_block < 2; ++half_block) {
        const int base = 128 * half_block;
        const uint8_t* l0 = ql + 64 * half_block;
        const uint8_t* h0 = qh + 32 * half_block;
        for (int part = 0; part < 4; ++part) {  // elements base + 32·part + l
          for (int g = 0; g < 2; ++g) {         // 16 values per scale
            int32_t dot = 0;
            for (int l = 16 * g; l < 16 * g + 16; ++l) {
              const int lo = part % 2 ? l0[l + 32] : l0[l];
              const int q = int((part < 2 ? lo & 0xF : lo >> 4) | (((h0[l] >> (2 * part)) & 3) << 4)) - 32;
              dot += q * a.q[base + 32 * part + l];
            }
            sum += int32_t(sc[8 * half_block + 2 * part + g]) * dot;
          }
        }
      }
      acc += a.d * half(b + 208) * float(sum);
      b += 210;
    }
  }
  return acc;
}

}  // namespace adallava
