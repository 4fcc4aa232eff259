#include "kernels/dequant_avx2.h"

#include <immintrin.h>

#include <cstring>

namespace adallava::avx2 {

namespace {

// 8 integers (in the low 8 bytes of v, as i8 or u8) minus zero, times d, to out.
template <bool is_signed>
inline void put8(__m128i v, int zero, __m256 d, float* out) {
  const __m256i i = is_signed ? _mm256_cvtepi8_epi32(v) : _mm256_cvtepu8_epi32(v);
  _mm256_storeu_ps(out, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(i, _mm256_set1_epi32(zero))), d));
}

}  // namespace

void dequantize_lane(DType t, const uint8_t* blocks, int lane, int64_t nb, float* out) {
  const bool q4 = t == DType::Q4_0 || t == DType::Q4_0_R4;
  const bool interleaved = t == DType::Q4_0_R4 || t == DType::Q8_0_R4;
  const size_t bb = q4 ? 18 : 34, payload = bb - 2;
  const size_t stride = interleaved ? 4 * bb : bb;
  const size_t scale_at = interleaved ? 2 * size_t(lane) : 0, data_at = interleaved ? 8 + size_t(lane) * payload : 2;
  for (int64_t b = 0; b < nb; ++b, blocks += stride, out += 32) {
    uint16_t h;
    std::memcpy(&h, blocks + scale_at, 2);
    const __m256 d = _mm256_set1_ps(_cvtsh_ss(h));
    const uint8_t* q = blocks + data_at;
    if (q4) {
      const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q));
      const __m128i lo = _mm_and_si128(raw, _mm_set1_epi8(0x0F));
      const __m128i hi = _mm_and_si128(_mm_srli_epi16(raw, 4), _mm_set1_epi8(0x0F));
      put8<false>(lo, 8, d, out);
      put8<false>(_mm_srli_si128(lo, 8), 8, d, out + 8);
      put8<false>(hi, 8, d, out + 16);
      put8<false>(_mm_srli_si128(hi, 8), 8, d, out + 24);
    } else {
      for (int j = 0; j < 4; ++j)
        put8<true>(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(q + 8 * j)), 0, d, out + 8 * j);
    }
  }
}

void quantize_activation_q8_0(const float* x, BlockQ8_0* out, int64_t n) {
  const __m256 sign = _mm256_set1_ps(-0.f);
  for (int64_t i = 0; i < n / 32; ++i, x += 32) {
    __m256 v[4], m = _mm256_setzero_ps();
    for (int j = 0; j < 4; ++j) v[j] = _mm256_loadu_ps(x + 8 * j), m = _mm256_max_ps(m, _mm256_andnot_ps(sign, v[j]));
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    const float amax = _mm_cvtss_f32(h), d = amax / 127.f, id = d != 0.f ? 1.f / d : 0.f;
    __m256i q[4];
    for (int j = 0; j < 4; ++j) q[j] = _mm256_cvtps_epi32(_mm256_mul_ps(v[j], _mm256_set1_ps(id)));  // round to nearest even
    // 32 i32 → 32 i8 in order: the packs interleave 128-bit lanes, the permute restores them.
    const __m256i p16a = _mm256_packs_epi32(q[0], q[1]), p16b = _mm256_packs_epi32(q[2], q[3]);
    const __m256i p8 = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(p16a, p16b), _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    BlockQ8_0& o = out[i];
    o.d = d;
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(o.q), p8);
    const __m256i s16 = _mm256_maddubs_epi16(_mm256_set1_epi8(1), p8);  // pairs of i8 (signed) times 1
    __m256i s32 = _mm256_madd_epi16(s16, _mm256_set1_epi16(1));
    __m128i t = _mm_add_epi32(_mm256_castsi256_si128(s32), _mm256_extracti128_si256(s32, 1));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0x4E));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0xB1));
    o.sum = _mm_cvtsi128_si32(t);
    o.zero8 = -8 * o.sum;
  }
}

}  // namespace adallava::avx2
