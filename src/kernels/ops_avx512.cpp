#include "kernels/ops_avx512.h"

#include <immintrin.h>

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

void softmax(float* x, int64_t n) {
  if (n <= 0) return;
  __m512 mx = _mm512_set1_ps(-__builtin_inff());
  each(n, [&](int64_t i, __mmask16 m) { mx = _mm512_mask_max_ps(mx, m, mx, _mm512_maskz_loadu_ps(m, x + i)); });
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

}  // namespace adallava::avx512
