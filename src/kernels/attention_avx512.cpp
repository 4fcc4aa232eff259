#include "kernels/attention_avx512.h"

#include <immintrin.h>

#include <cmath>

namespace adallava::avx512 {

namespace {

// Lanes of the last (partial) 16-float chunk of a head_dim-long row.
__mmask16 tail_mask(int head_dim, int c) {
  const int left = head_dim - c;
  return left >= 16 ? __mmask16(0xffff) : __mmask16((1u << left) - 1);
}

}  // namespace

void attend_row(float* out, const float* q, const float* K, const float* V, int64_t n, int head_dim, float scale,
                float* scores) {
  // Scores: one dot product per cached row, 16 lanes at a time.
  float mx = -INFINITY;
  for (int64_t j = 0; j < n; ++j) {
    const float* k = K + j * head_dim;
    __m512 acc = _mm512_setzero_ps();
    for (int c = 0; c < head_dim; c += 16) {
      const __mmask16 m = tail_mask(head_dim, c);
      acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, q + c), _mm512_maskz_loadu_ps(m, k + c), acc);
    }
    const float s = _mm512_reduce_add_ps(acc) * scale;
    scores[j] = s;
    mx = s > mx ? s : mx;
  }
  float sum = 0.f;
  for (int64_t j = 0; j < n; ++j) {
    scores[j] = std::exp(scores[j] - mx);
    sum += scores[j];
  }
  const float inv = 1.f / sum;
  // out = Σ p_j V_j, 128 output lanes (8 registers) per pass over V.
  for (int c0 = 0; c0 < head_dim; c0 += 128) {
    __m512 acc[8];
    for (auto& a : acc) a = _mm512_setzero_ps();
    const int chunks = (head_dim - c0 + 15) / 16 < 8 ? (head_dim - c0 + 15) / 16 : 8;
    for (int64_t j = 0; j < n; ++j) {
      const __m512 p = _mm512_set1_ps(scores[j] * inv);
      const float* v = V + j * head_dim + c0;
      for (int i = 0; i < chunks; ++i)
        acc[i] = _mm512_fmadd_ps(p, _mm512_maskz_loadu_ps(tail_mask(head_dim, c0 + 16 * i), v + 16 * i), acc[i]);
    }
    for (int i = 0; i < chunks; ++i) _mm512_mask_storeu_ps(out + c0 + 16 * i, tail_mask(head_dim, c0 + 16 * i), acc[i]);
  }
}

}  // namespace adallava::avx512
