#include "kernels/attention_avx512.h"

#include <immintrin.h>
#include <math.h>  // expf: a C function, so no inline library code is compiled with AVX-512 here

namespace adallava::avx512 {

namespace {

// Lanes of the last (partial) 16-float chunk of a head_dim-long row.
__mmask16 tail_mask(int head_dim, int c) {
  const int left = head_dim - c;
  return left >= 16 ? __mmask16(0xffff) : __mmask16((1u << left) - 1);
}

// 16 lanes of a K/V row from element c on, widened to f32 (bf16 is the high half of a float).
template <bool kBf16>
__m512 load_lanes(const void* row, int c, __mmask16 m) {
  if constexpr (kBf16) {
    const __m256i h = _mm256_maskz_loadu_epi16(m, static_cast<const uint16_t*>(row) + c);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  } else {
    return _mm512_maskz_loadu_ps(m, static_cast<const float*>(row) + c);
  }
}

template <bool kBf16>
void attend(float* out, const float* q, const void* K, const void* V, int64_t n, int head_dim, float scale,
            float* scores) {
  const int64_t row_bytes = int64_t(head_dim) * (kBf16 ? 2 : 4);
  auto row = [&](const void* base, int64_t j) { return static_cast<const uint8_t*>(base) + j * row_bytes; };
  // Scores: one dot product per cached row, 16 lanes at a time.
  float mx = -INFINITY;
  for (int64_t j = 0; j < n; ++j) {
    const void* k = row(K, j);
    __m512 acc = _mm512_setzero_ps();
    for (int c = 0; c < head_dim; c += 16) {
      const __mmask16 m = tail_mask(head_dim, c);
      acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, q + c), load_lanes<kBf16>(k, c, m), acc);
    }
    const float s = _mm512_reduce_add_ps(acc) * scale;
    scores[j] = s;
    mx = s > mx ? s : mx;
  }
  float sum = 0.f;
  for (int64_t j = 0; j < n; ++j) {
    scores[j] = expf(scores[j] - mx);
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
      const void* v = row(V, j);
      for (int i = 0; i < chunks; ++i)
        acc[i] = _mm512_fmadd_ps(p, load_lanes<kBf16>(v, c0 + 16 * i, tail_mask(head_dim, c0 + 16 * i)), acc[i]);
    }
    for (int i = 0; i < chunks; ++i) _mm512_mask_storeu_ps(out + c0 + 16 * i, tail_mask(head_dim, c0 + 16 * i), acc[i]);
  }
}

}  // namespace

void attend_row(float* out, const float* q, const void* K, const void* V, bool bf16_kv, int64_t n, int head_dim,
                float scale, float* scores) {
  if (bf16_kv)
    attend<true>(out, q, K, V, n, head_dim, scale, scores);
  else
    attend<false>(out, q, K, V, n, head_dim, scale, scores);
}

}  // namespace adallava::avx512
