#include "kernels/ops_avx512.h"

#include <immintrin.h>

#include <cmath>

namespace adallava::avx512 {

namespace {

// e^x as 2^n · e^r with n = round(x / ln 2), r = x - n ln 2 (ln 2 in two parts, so r is exact
// enough) and e^r from Cephes' degree-6 polynomial; scalef applies 2^n and gives 0 and inf past
// the float range. x is clamped first so that ±inf give 0 and inf rather than NaN; NaN stays NaN.
inline __m512 exp16(__m512 x) {
  x = _mm512_min_ps(_mm512_set1_ps(89.f), _mm512_max_ps(_mm512_set1_ps(-110.f), x));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.f)));
  return _mm512_scalef_ps(p, n);
}

inline __mmask16 tail(int64_t left) { return left >= 16 ? __mmask16(0xffff) : __mmask16((1u << left) - 1); }

// x · sigmoid(k x) = x / (1 + e^(-k x)), lane by lane over n values.
template <class Out>
inline void each(int64_t n, Out&& out) {
  for (int64_t i = 0; i < n; i += 16) out(i, tail(n - i));
}

inline __m512 x_sigmoid(__m512 x, float k) {
  const __m512 e = exp16(_mm512_mul_ps(x, _mm512_set1_ps(-k)));
  return _mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1.f), e));
}

}  // namespace

void softmax(float* x, int64_t n, float scale) {
  if (n <= 0) return;
  const __m512 k = _mm512_set1_ps(scale);
  __m512 mx = _mm512_set1_ps(-__builtin_inff());
  each(n, [&](int64_t i, __mmask16 m) {
    const __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), k);
    _mm512_mask_storeu_ps(x + i, m, v);
    mx = _mm512_mask_max_ps(mx, m, mx, v);
  });
  const __m512 top = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
  __m512 sum = _mm512_setzero_ps();
  each(n, [&](int64_t i, __mmask16 m) {
    const __m512 e = exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), top));
    _mm512_mask_storeu_ps(x + i, m, e);
    sum = _mm512_mask_add_ps(sum, m, sum, e);
  });
  const __m512 inv = _mm512_set1_ps(1.f / _mm512_reduce_add_ps(sum));
  each(n, [&](int64_t i, __mmask16 m) { _mm512_mask_storeu_ps(x + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), inv)); });
}

void silu(float* x, int64_t n) {
  each(n, [&](int64_t i, __mmask16 m) { _mm512_mask_storeu_ps(x + i, m, x_sigmoid(_mm512_maskz_loadu_ps(m, x + i), 1.f)); });
}

void quick_gelu(float* x, int64_t n) {
  each(n, [&](int64_t i, __mmask16 m) {
    _mm512_mask_storeu_ps(x + i, m, x_sigmoid(_mm512_maskz_loadu_ps(m, x + i), 1.702f));
  });
}

void swiglu(float* gate, const float* up, int64_t n) {
  each(n, [&](int64_t i, __mmask16 m) {
    const __m512 s = x_sigmoid(_mm512_maskz_loadu_ps(m, gate + i), 1.f);
    _mm512_mask_storeu_ps(gate + i, m, _mm512_mul_ps(s, _mm512_maskz_loadu_ps(m, up + i)));
  });
}

void rms_norm_row(float* out, const float* x, const float* w, int64_t C, float eps) {
  __m512 ss = _mm512_setzero_ps();
  each(C, [&](int64_t i, __mmask16 m) {
    const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
    ss = _mm512_fmadd_ps(v, v, ss);
  });
  const __m512 inv = _mm512_set1_ps(1.f / std::sqrt(_mm512_reduce_add_ps(ss) / float(C) + eps));
  each(C, [&](int64_t i, __mmask16 m) {
    const __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), inv);
    _mm512_mask_storeu_ps(out + i, m, _mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, w + i)));
  });
}

void to_bf16(const float* src, uint16_t* dst, int64_t n) {
  const __m512i quiet = _mm512_set1_epi32(0x40), exp_mask = _mm512_set1_epi32(0x7f800000);
  each(n, [&](int64_t i, __mmask16 m) {
    const __m512i u = _mm512_castps_si512(_mm512_maskz_loadu_ps(m, src + i));
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    __m512i r = _mm512_srli_epi32(_mm512_add_epi32(u, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff))), 16);
    const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)), exp_mask);
    r = _mm512_mask_or_epi32(r, nan, _mm512_srli_epi32(u, 16), quiet);
    _mm256_mask_storeu_epi16(dst + i, m, _mm512_cvtepi32_epi16(r));
  });
}

}  // namespace adallava::avx512
