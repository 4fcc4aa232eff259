#include <immintrin.h>

#include <cstring>
#include <type_traits>
#include <utility>

#include "kernels/quant_dot.h"

namespace adallava::vnni {

#define PRODUCT(u, s) _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s)
#include "kernels/quant_dot_x86.inc"
#undef PRODUCT

}  // namespace adallava::vnni

namespace adallava::vnni {

namespace {

// The four f16 scales of a group's block times the activation block's scale.
inline __m128 group_scales(const uint8_t* g, const BlockQ8_0& x) {
  return _mm_mul_ps(_mm_cvtph_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(g))), _mm_set1_ps(x.d));
}

// Sum of each 128-bit lane's four floats → one float per lane (rows 0..3).
inline __m128 lane_sums(__m512 v) {
  const __m128 a = _mm512_castps512_ps128(v), b = _mm512_extractf32x4_ps(v, 1), c = _mm512_extractf32x4_ps(v, 2),
               d = _mm512_extractf32x4_ps(v, 3);
  return _mm_hadd_ps(_mm_hadd_ps(a, b), _mm_hadd_ps(c, d));
}

// (sum of the low 8 floats, sum of the high 8): rows 0, 1 (or 2, 3) of a Q8_0_R4 group.
inline std::pair<float, float> half_sums(__m512 v) {
  const __m256 lo = _mm512_castps512_ps256(v), hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
  __m256 t = _mm256_hadd_ps(lo, hi);  // pairs: lo0+1, lo2+3, hi0+1, hi2+3 | lo4+5, ...
  t = _mm256_hadd_ps(t, t);
  const __m128 q = _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
  return {_mm_cvtss_f32(q), _mm_cvtss_f32(_mm_shuffle_ps(q, q, 1))};
}

}  // namespace

// Decode streams the weights once: each block asks for the bytes ahead (Prefetch, quant_dot.h).
// 64 bytes of nibbles: row r's 16 bytes in 128-bit lane r; the activations' two halves are
// broadcast to every lane, so lane r sums row r's products.
void dot4_q4_0(const uint8_t* group, const BlockQ8_0* x, int64_t nb, float* out, Prefetch p) {
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  const __m512i lane_of = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
  __m512 acc = _mm512_setzero_ps();
  __m128 zero_point = _mm_setzero_ps();
  for (int64_t b = 0; b < nb; ++b, group += 72) {
    prefetch(group, p, 1);
    const __m128 s = group_scales(group, x[b]);
    const __m512i w = _mm512_loadu_si512(group + 8);
    const __m512i lo = _mm512_and_si512(w, low4), hi = _mm512_and_si512(_mm512_srli_epi16(w, 4), low4);
    const __m512i a_lo = _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x[b].q)));
    const __m512i a_hi = _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x[b].q + 16)));
    const __m512i p = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, a_lo), hi, a_hi);
    acc = _mm512_fmadd_ps(_mm512_permutexvar_ps(lane_of, _mm512_castps128_ps512(s)), _mm512_cvtepi32_ps(p), acc);
    zero_point = _mm_fmadd_ps(s, _mm_set1_ps(float(8 * x[b].sum)), zero_point);
  }
  _mm_storeu_ps(out, _mm_sub_ps(lane_sums(acc), zero_point));
}

// 128 bytes of values: rows 0, 1 in the halves of the first vector, rows 2, 3 in the second.
void dot4_q8_0(const uint8_t* group, const BlockQ8_0* x, int64_t nb, float* out, Prefetch p) {
  const __m512i half_of01 = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
  const __m512i half_of23 = _mm512_set_epi32(3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2);
  __m512 acc01 = _mm512_setzero_ps(), acc23 = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b, group += 136) {
    prefetch(group, p, 3);
    const __m512 s = _mm512_castps128_ps512(group_scales(group, x[b]));
    const __m512i a = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b].q)));
    auto product = [&](const uint8_t* p) {  // |w| · (a with w's sign)
      const __m512i w = _mm512_loadu_si512(p);
      const __m512i signed_a = _mm512_mask_sub_epi8(a, _mm512_movepi8_mask(w), _mm512_setzero_si512(), a);
      return _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_abs_epi8(w), signed_a));
    };
    acc01 = _mm512_fmadd_ps(_mm512_permutexvar_ps(half_of01, s), product(group + 8), acc01);
    acc23 = _mm512_fmadd_ps(_mm512_permutexvar_ps(half_of23, s), product(group + 72), acc23);
  }
  const auto [r0, r1] = half_sums(acc01);
  const auto [r2, r3] = half_sums(acc23);
  out[0] = r0, out[1] = r1, out[2] = r2, out[3] = r3;
}

}  // namespace adallava::vnni

namespace adallava::vnni {

namespace {

// G groups (4·G weight rows) against up to kTile activation rows: each block's nibbles are split
// once per tile, each row's activation broadcasts and starting sum serve all G groups. The −8 of
// the weights enters as each row-lane's starting sum (−8·Σa of the block).
template <int G, int kTile>
void gemm_q4_0_tile(const uint8_t* const* groups, const BlockQ8_0* x, int64_t x_stride, int64_t nb, float* out,
                    int64_t ldo) {
  constexpr int rows = kTile;  // a compile-time count keeps the accumulators in registers
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  const __m512i lane_of = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
  __m512 acc[kTile][G];
  for (int r = 0; r < kTile; ++r)
    for (int k = 0; k < G; ++k) acc[r][k] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    __m512 s[G];
    __m512i lo[G], hi[G];
    for (int k = 0; k < G; ++k) {
      const uint8_t* g = groups[k] + 72 * b;
      s[k] = _mm512_permutexvar_ps(
          lane_of, _mm512_castps128_ps512(_mm_cvtph_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(g)))));
      const __m512i w = _mm512_loadu_si512(g + 8);
      lo[k] = _mm512_and_si512(w, low4);
      hi[k] = _mm512_and_si512(_mm512_srli_epi16(w, 4), low4);
    }
    for (int r = 0; r < rows; ++r) {
      const BlockQ8_0& a = x[r * x_stride + b];
      const __m512i start = _mm512_maskz_set1_epi32(0x1111, a.zero8);
      const __m512i a_lo = _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a.q)));
      const __m512i a_hi = _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a.q + 16)));
      const __m512 d = _mm512_set1_ps(a.d);
      for (int k = 0; k < G; ++k) {
        const __m512i p = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(start, lo[k], a_lo), hi[k], a_hi);
        acc[r][k] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(p), s[k]), d, acc[r][k]);
      }
    }
  }
  for (int r = 0; r < rows; ++r)
    for (int k = 0; k < G; ++k) _mm_storeu_ps(out + r * ldo + 4 * k, lane_sums(acc[r][k]));
}

}  // namespace

void gemm_q4_0(const uint8_t* const* groups, int n_groups, const BlockQ8_0* x, int64_t x_stride, int64_t M,
               int64_t nb, float* out, int64_t ldo) {
  auto tile = [&](auto g, auto r, int k, int64_t m0) {
    gemm_q4_0_tile<decltype(g)::value, decltype(r)::value>(groups + k, x + m0 * x_stride, x_stride, nb,
                                                           out + m0 * ldo + 4 * k, ldo);
  };
  using One = std::integral_constant<int, 1>;
  using Two = std::integral_constant<int, 2>;
  using Eight = std::integral_constant<int, 8>;
  int64_t m0 = 0;
  for (; m0 + 8 <= M; m0 += 8) {
    int k = 0;
    for (; k + 2 <= n_groups; k += 2) tile(Two{}, Eight{}, k, m0);
    if (k < n_groups) tile(One{}, Eight{}, k, m0);
  }
  for (; m0 < M; ++m0) {  // the rows left over, one at a time
    int k = 0;
    for (; k + 2 <= n_groups; k += 2) tile(Two{}, One{}, k, m0);
    if (k < n_groups) tile(One{}, One{}, k, m0);
  }
}

namespace {

// One Q8_0_R4 group against kTile activation rows, each row's products exactly as dot4_q8_0
// forms them (so a row's result does not depend on the rows beside it): the weights are made
// unsigned once per block (w + 128), and each lane starts at −128 times the sum of its four
// activations, which leaves every lane the plain sum of its four w·a.
template <int kTile>
void gemm_q8_0_tile(const uint8_t* group, const BlockQ8_0* x, int64_t x_stride, int64_t nb, float* out, int64_t ldo) {
  const __m512i half_of01 = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
  const __m512i half_of23 = _mm512_set_epi32(3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2);
  const __m512i bias = _mm512_set1_epi8(char(0x80)), c128 = _mm512_set1_epi8(char(0x80));
  __m512 acc01[kTile], acc23[kTile];
  for (int r = 0; r < kTile; ++r) acc01[r] = acc23[r] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b, group += 136) {
    const __m128 ws = _mm_cvtph_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(group)));
    const __m512i w01 = _mm512_xor_si512(_mm512_loadu_si512(group + 8), bias);
    const __m512i w23 = _mm512_xor_si512(_mm512_loadu_si512(group + 72), bias);
    for (int r = 0; r < kTile; ++r) {
      const BlockQ8_0& a = x[r * x_stride + b];
      const __m512i av = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.q)));
      const __m512i start = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_dpbusd_epi32(_mm512_setzero_si512(), c128, av));
      const __m512 sc = _mm512_castps128_ps512(_mm_mul_ps(ws, _mm_set1_ps(a.d)));
      acc01[r] = _mm512_fmadd_ps(_mm512_permutexvar_ps(half_of01, sc), _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(start, w01, av)), acc01[r]);
      acc23[r] = _mm512_fmadd_ps(_mm512_permutexvar_ps(half_of23, sc), _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(start, w23, av)), acc23[r]);
    }
  }
  for (int r = 0; r < kTile; ++r) {
    const auto [r0, r1] = half_sums(acc01[r]);
    const auto [r2, r3] = half_sums(acc23[r]);
    float* o = out + r * ldo;
    o[0] = r0, o[1] = r1, o[2] = r2, o[3] = r3;
  }
}

}  // namespace

void gemm_q8_0(const uint8_t* const* groups, int n_groups, const BlockQ8_0* x, int64_t x_stride, int64_t M,
               int64_t nb, float* out, int64_t ldo) {
  for (int k = 0; k < n_groups; ++k) {
    int64_t m0 = 0;
    for (; m0 + 8 <= M; m0 += 8) gemm_q8_0_tile<8>(groups[k], x + m0 * x_stride, x_stride, nb, out + m0 * ldo + 4 * k, ldo);
    for (; m0 < M; ++m0) gemm_q8_0_tile<1>(groups[k], x + m0 * x_stride, x_stride, nb, out + m0 * ldo + 4 * k, ldo);
  }
}

}  // namespace adallava::vnni
