#include <immintrin.h>

#include <cstring>

#include "kernels/quant_dot.h"

namespace adallava::avx2 {

// vpmaddubsw's i16 pair sums cannot saturate here: |u·s| ≤ 15·127 or 127·127, two per lane.
#define PRODUCT(u, s) _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1))
#include "kernels/quant_dot_x86.inc"
#undef PRODUCT

}  // namespace adallava::avx2

namespace adallava::avx2 {

namespace {

inline __m128 group_scales(const uint8_t* g, const BlockQ8_0& x) {
  return _mm_mul_ps(_mm_cvtph_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(g))), _mm_set1_ps(x.d));
}

// (sum of lanes 0..3, sum of lanes 4..7) of a, then of b.
inline __m128 half_sums(__m256 a, __m256 b) {
  const __m256 t = _mm256_hadd_ps(a, b);  // a01 a23 b01 b23 | a45 a67 b45 b67
  const __m256 u = _mm256_hadd_ps(t, t);  // a0-3 b0-3 a0-3 b0-3 | a4-7 b4-7 ...
  return _mm_unpacklo_ps(_mm256_castps256_ps128(u), _mm256_extractf128_ps(u, 1));
}

}  // namespace

// 64 bytes of nibbles as two vectors of two rows (16 bytes each per 128-bit lane).
void dot4_q4_0(const uint8_t* group, const BlockQ8_0* x, int64_t nb, float* out, Prefetch p) {
  const __m256i low4 = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
  const __m256i row_of01 = _mm256_set_epi32(1, 1, 1, 1, 0, 0, 0, 0), row_of23 = _mm256_set_epi32(3, 3, 3, 3, 2, 2, 2, 2);
  __m256 acc01 = _mm256_setzero_ps(), acc23 = _mm256_setzero_ps();
  __m128 zero_point = _mm_setzero_ps();
  for (int64_t b = 0; b < nb; ++b, group += 72) {
    prefetch(group, p, 1);  // as the AVX-512 kernel does
    const __m128 s = group_scales(group, x[b]);
    const __m256i a_lo = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x[b].q)));
    const __m256i a_hi = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x[b].q + 16)));
    auto product = [&](const uint8_t* p) {  // i16 pair sums stay below 2·2·15·127
      const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
      const __m256i lo = _mm256_and_si256(w, low4), hi = _mm256_and_si256(_mm256_srli_epi16(w, 4), low4);
      const __m256i sum16 = _mm256_add_epi16(_mm256_maddubs_epi16(lo, a_lo), _mm256_maddubs_epi16(hi, a_hi));
      return _mm256_cvtepi32_ps(_mm256_madd_epi16(sum16, ones));
    };
    const __m256 s8 = _mm256_castps128_ps256(s);
    acc01 = _mm256_fmadd_ps(_mm256_permutevar8x32_ps(s8, row_of01), product(group + 8), acc01);
    acc23 = _mm256_fmadd_ps(_mm256_permutevar8x32_ps(s8, row_of23), product(group + 40), acc23);
    zero_point = _mm_fmadd_ps(s, _mm_set1_ps(float(8 * x[b].sum)), zero_point);
  }
  _mm_storeu_ps(out, _mm_sub_ps(half_sums(acc01, acc23), zero_point));
}

// 128 bytes of values: one row per 32-byte vector.
void dot4_q8_0(const uint8_t* group, const BlockQ8_0* x, int64_t nb, float* out, Prefetch p) {
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  const __m256i ones = _mm256_set1_epi16(1);
  for (int64_t b = 0; b < nb; ++b, group += 136) {
    prefetch(group, p, 3);
    const __m128 s = group_scales(group, x[b]);
    alignas(16) float sc[4];
    _mm_store_ps(sc, s);
    const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b].q));
    for (int r = 0; r < 4; ++r) {
      const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(group + 8 + 32 * r));
      const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(a, w)), ones);
      acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(sc[r]), _mm256_cvtepi32_ps(p), acc[r]);
    }
  }
  const __m128 lo = half_sums(acc[0], acc[1]), hi = half_sums(acc[2], acc[3]);
  // half_sums gives (r0 lanes 0-3, r0 lanes 4-7, r1 ..., ...): add the halves
  out[0] = _mm_cvtss_f32(lo) + _mm_cvtss_f32(_mm_shuffle_ps(lo, lo, 1));
  out[1] = _mm_cvtss_f32(_mm_shuffle_ps(lo, lo, 2)) + _mm_cvtss_f32(_mm_shuffle_ps(lo, lo, 3));
  out[2] = _mm_cvtss_f32(hi) + _mm_cvtss_f32(_mm_shuffle_ps(hi, hi, 1));
  out[3] = _mm_cvtss_f32(_mm_shuffle_ps(hi, hi, 2)) + _mm_cvtss_f32(_mm_shuffle_ps(hi, hi, 3));
}

}  // namespace adallava::avx2

namespace adallava::avx2 {

namespace {

inline int hsum_i32(__m256i v) {
  __m128i t = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0x4E));
  t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0xB1));
  return _mm_cvtsi128_si32(t);
}

inline float half_at(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return _cvtsh_ss(h);
}

}  // namespace

// Q4_K: the 12 bytes of 6-bit scales and mins unpacked with word operations (8 scales, then
// 8 mins, as bytes); per sub-block pair one 32-byte load gives both sub-blocks' nibbles, each
// pair sum weighted by its scale in vpmaddwd; the mins meet the activation's 16-value sums in
// one vpmaddwd. Sums stay in vectors until the row ends.
float dot_q4_k(const uint8_t* w, const BlockQ8_K* x, int64_t nb, Prefetch p) {
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  __m256 acc = _mm256_setzero_ps();
  __m128 acc_min = _mm_setzero_ps();
  for (int64_t i = 0; i < nb; ++i, w += 144) {
    prefetch(w, p, 3);
    uint32_t u[4];
    std::memcpy(u, w + 4, 12);
    u[3] = ((u[2] >> 4) & 0x0f0f0f0fu) | (((u[1] >> 6) & 0x03030303u) << 4);  // mins 4..7
    const uint32_t mins_lo = u[1] & 0x3f3f3f3fu;                                // mins 0..3
    u[1] = (u[2] & 0x0f0f0f0fu) | (((u[0] >> 6) & 0x03030303u) << 4);          // scales 4..7
    u[0] &= 0x3f3f3f3fu;                                                        // scales 0..3
    u[2] = mins_lo;
    const __m128i sm = _mm_cvtepu8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(u)));      // 8 scales
    const __m128i mn = _mm_cvtepu8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(u + 2)));  // 8 mins
    const BlockQ8_K& a = x[i];
    const __m128i b16 = _mm_hadd_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a.bsums)),
                                       _mm_loadu_si128(reinterpret_cast<const __m128i*>(a.bsums + 8)));
    acc_min = _mm_fmadd_ps(_mm_set1_ps(a.d * half_at(w + 2)), _mm_cvtepi32_ps(_mm_madd_epi16(mn, b16)), acc_min);
    __m256i sum = _mm256_setzero_si256();
    auto pair = [&](int j, __m256i s_lo, __m256i s_hi) {
      const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + 16 + 32 * j));
      const __m256i lo = _mm256_and_si256(q, low4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
      const __m256i a0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.q + 64 * j));
      const __m256i a1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.q + 64 * j + 32));
      sum = _mm256_add_epi32(sum, _mm256_madd_epi16(_mm256_maddubs_epi16(lo, a0), s_lo));
      sum = _mm256_add_epi32(sum, _mm256_madd_epi16(_mm256_maddubs_epi16(hi, a1), s_hi));
    };
    pair(0, _mm256_broadcastw_epi16(sm), _mm256_broadcastw_epi16(_mm_srli_si128(sm, 2)));
    pair(1, _mm256_broadcastw_epi16(_mm_srli_si128(sm, 4)), _mm256_broadcastw_epi16(_mm_srli_si128(sm, 6)));
    pair(2, _mm256_broadcastw_epi16(_mm_srli_si128(sm, 8)), _mm256_broadcastw_epi16(_mm_srli_si128(sm, 10)));
    pair(3, _mm256_broadcastw_epi16(_mm_srli_si128(sm, 12)), _mm256_broadcastw_epi16(_mm_srli_si128(sm, 14)));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(a.d * half_at(w)), _mm256_cvtepi32_ps(sum), acc);
  }
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
  s = _mm_sub_ps(s, acc_min);
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Q6_K: values q + 32 (0..63) as the unsigned operand; the 32·Σa that adds is taken back with
// the activation's 16-value sums. Each 16 values have their own i8 scale.
float dot_q6_k(const uint8_t* w, const BlockQ8_K* x, int64_t nb, Prefetch p) {
  const __m256i low4 = _mm256_set1_epi8(0x0F), two = _mm256_set1_epi8(3);
  float acc = 0.f;
  for (int64_t i = 0; i < nb; ++i, w += 210) {
    prefetch(w, p, 4);
    const BlockQ8_K& a = x[i];
    const auto* sc = reinterpret_cast<const int8_t*>(w + 192);
    __m256i sum = _mm256_setzero_si256();
    for (int half = 0; half < 2; ++half) {
      const uint8_t* ql = w + 64 * half;
      const uint8_t* qh = w + 128 + 32 * half;
      const __m256i l0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql));
      const __m256i l1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql + 32));
      const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qh));
      const __m256i part[4] = {
          _mm256_or_si256(_mm256_and_si256(l0, low4), _mm256_slli_epi16(_mm256_and_si256(h, two), 4)),
          _mm256_or_si256(_mm256_and_si256(l1, low4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 2), two), 4)),
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), low4),
                          _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 4), two), 4)),
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), low4),
                          _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 6), two), 4))};
      for (int p = 0; p < 4; ++p) {
        const __m256i av = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.q + 128 * half + 32 * p));
        const int8_t s0 = sc[8 * half + 2 * p], s1 = sc[8 * half + 2 * p + 1];
        const __m256i scales = _mm256_setr_epi16(s0, s0, s0, s0, s0, s0, s0, s0, s1, s1, s1, s1, s1, s1, s1, s1);
        sum = _mm256_add_epi32(sum, _mm256_madd_epi16(_mm256_maddubs_epi16(part[p], av), scales));
      }
    }
    int offset = 0;  // Σ scale · 32 · Σa over the 16 groups of 16
    for (int g = 0; g < 16; ++g) offset += int(sc[g]) * a.bsums[g];
    acc += a.d * half_at(w + 208) * float(hsum_i32(sum) - 32 * offset);
  }
  return acc;
}

}  // namespace adallava::avx2

namespace adallava::avx2 {

namespace {

// One Q4_0_R4 group against kRows activation rows: each vector holds two weight rows (one per
// 128-bit lane), so a group is two vectors; vpmaddubsw pairs then vpmaddwd fours, the −8 of the
// weights entering as each row-lane's starting sum.
template <int kRows>
void gemm_q4_0_rows(const uint8_t* group, const BlockQ8_0* x, int64_t x_stride, int64_t nb, float* out, int64_t ldo) {
  const __m256i low4 = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
  const __m256i row_of01 = _mm256_set_epi32(1, 1, 1, 1, 0, 0, 0, 0), row_of23 = _mm256_set_epi32(3, 3, 3, 3, 2, 2, 2, 2);
  __m256 acc[kRows][2];
  for (int r = 0; r < kRows; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b, group += 72) {
    const __m256 s8 = _mm256_castps128_ps256(_mm_cvtph_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(group))));
    const __m256 s[2] = {_mm256_permutevar8x32_ps(s8, row_of01), _mm256_permutevar8x32_ps(s8, row_of23)};
    __m256i lo[2], hi[2];
    for (int h = 0; h < 2; ++h) {
      const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(group + 8 + 32 * h));
      lo[h] = _mm256_and_si256(w, low4);
      hi[h] = _mm256_and_si256(_mm256_srli_epi16(w, 4), low4);
    }
    for (int r = 0; r < kRows; ++r) {
      const BlockQ8_0& a = x[r * x_stride + b];
      const __m256i a_lo = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a.q)));
      const __m256i a_hi = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a.q + 16)));
      const __m256i start = _mm256_setr_epi32(a.zero8, 0, 0, 0, a.zero8, 0, 0, 0);
      const __m256 d = _mm256_set1_ps(a.d);
      for (int h = 0; h < 2; ++h) {
        const __m256i sum16 = _mm256_add_epi16(_mm256_maddubs_epi16(lo[h], a_lo), _mm256_maddubs_epi16(hi[h], a_hi));
        const __m256i p = _mm256_add_epi32(_mm256_madd_epi16(sum16, ones), start);
        acc[r][h] = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(p), s[h]), d, acc[r][h]);
      }
    }
  }
  for (int r = 0; r < kRows; ++r) _mm_storeu_ps(out + r * ldo, half_sums(acc[r][0], acc[r][1]));
}

}  // namespace

void gemm_q4_0(const uint8_t* const* groups, int n_groups, const BlockQ8_0* x, int64_t x_stride, int64_t M,
               int64_t nb, float* out, int64_t ldo) {
  int64_t m0 = 0;
  for (; m0 + 4 <= M; m0 += 4)
    for (int k = 0; k < n_groups; ++k) gemm_q4_0_rows<4>(groups[k], x + m0 * x_stride, x_stride, nb, out + m0 * ldo + 4 * k, ldo);
  for (; m0 < M; ++m0)
    for (int k = 0; k < n_groups; ++k) gemm_q4_0_rows<1>(groups[k], x + m0 * x_stride, x_stride, nb, out + m0 * ldo + 4 * k, ldo);
}

}  // namespace adallava::avx2
