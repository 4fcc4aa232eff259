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

}  // namespace adallava::avx2
