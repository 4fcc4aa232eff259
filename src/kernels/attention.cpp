#include "kernels/attention.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/attention_avx512.h"
#include "kernels/matmul.h"
#include "kernels/ops.h"

namespace adallava {

namespace {
constexpr int64_t kDirectRows = 4;  // query rows up to which P·V is accumulated without packing
constexpr size_t kKeptScoreBytes = size_t(16) << 20;  // a longer prompt's scores are freed after use
}  // namespace

void kv_store(const KvView& kv, const float* k, int64_t ldk, const float* v, int64_t ldv, int64_t T, int64_t past) {
  const int hd = kv.head_dim;
  auto put = [&](void* dst, const float* src) {
    if (kv.dtype == DType::F32)
      std::memcpy(dst, src, size_t(hd) * 4);
    else
      round_to_bf16(src, static_cast<uint16_t*>(dst), hd);
  };
  // Rows in parallel for a prompt or an image (decode rows are too few to share).
  const bool many = T * kv.n_kv_heads * hd >= (1 << 15) && !omp_in_parallel();
#pragma omp parallel for collapse(2) schedule(static) if (many)
  for (int g = 0; g < kv.n_kv_heads; ++g)
    for (int64_t t = 0; t < T; ++t) {
      put(kv.row(kv.k, g, past + t), k + t * ldk + int64_t(g) * hd);
      put(kv.row(kv.v, g, past + t), v + t * ldv + int64_t(g) * hd);
    }
}

void attention(float* out, int64_t ldo, const float* q, int64_t ldq, int64_t T, int64_t past, int n_heads,
               const KvView& kv, float scale, bool causal, float* probs, Precision products) {
  const int hd = kv.head_dim;
  const int group = n_heads / kv.n_kv_heads;
  const int64_t total = past + T;
  // Few query rows (decode) on AVX-512: one fused pass per row and head (scores, softmax, P·V).
  if (T <= kDirectRows && !probs && active_kernels().attention >= KernelSet::Avx512) {
#pragma omp parallel
    {
      std::vector<float> scores(static_cast<size_t>(total));
#pragma omp for schedule(static) collapse(2)
      for (int h = 0; h < n_heads; ++h)
        for (int64_t t = 0; t < T; ++t) {
          const int64_t g = h / group;
          avx512::attend_row(out + t * ldo + int64_t(h) * hd, q + t * ldq + int64_t(h) * hd, kv.row(kv.k, int(g), 0),
                             kv.row(kv.v, int(g), 0), kv.dtype == DType::BF16, causal ? past + t + 1 : total, hd, scale,
                             scores.data());
        }
    }
    return;
  }
  // Heads run in parallel; each does its two products with one thread (nested regions are
  // serial), so the per-thread score buffer is private.
#pragma omp parallel
  {
    // Kept per thread between calls up to kKeptScoreBytes: an image's scores are megabytes, which
    // fresh allocations would take from the kernel as zeroed pages every layer.
    thread_local std::vector<float> buffer;
    thread_local std::vector<uint16_t> vt;  // V_hᵀ in bf16, for bf16 products
#pragma omp for schedule(dynamic, 1)
    for (int h = 0; h < n_heads; ++h) {
      const int g = h / group;
      const void* kh = kv.row(kv.k, g, 0);
      const void* vh = kv.row(kv.v, g, 0);
      if (!probs) buffer.resize(size_t(T * total));
      float* scores = probs ? probs + int64_t(h) * T * total : buffer.data();
      // S (T, total) = q_h · K_hᵀ
      matmul(scores, total, q + int64_t(h) * hd, ldq, T, WeightView::dense(kv.dtype, kh, total, hd), nullptr,
             products);
      for (int64_t t = 0; t < T; ++t) {
        float* row = scores + t * total;
        const int64_t visible = causal ? past + t + 1 : total;
        softmax(row, visible, scale);
        for (int64_t j = visible; j < total; ++j) row[j] = 0.f;
      }
      // O_h (T, hd) = P · V_h. Few rows (decode): accumulate V rows directly; packing Vᵀ for a
      // product with one row would cost more than the product.
      if (T <= kDirectRows) {
        std::vector<float> v(static_cast<size_t>(hd));
        for (int64_t t = 0; t < T; ++t) {
          float* o = out + t * ldo + int64_t(h) * hd;
          const float* p = scores + t * total;
          std::fill(o, o + hd, 0.f);
          const int64_t visible = causal ? past + t + 1 : total;
          for (int64_t j = 0; j < visible; ++j) {
            const float pj = p[j];
            to_f32(kv.dtype, kv.row(kv.v, g, j), v.data(), size_t(hd));
            for (int c = 0; c < hd; ++c) o[c] += pj * v[size_t(c)];
          }
        }
      } else if (products == Precision::BF16) {  // V_hᵀ (hd, total) copied row-major, as tiles read it
        vt.resize(size_t(hd * total));
        for (int64_t j = 0; j < total; ++j) {
          const void* vr = kv.row(kv.v, g, j);
          for (int c = 0; c < hd; ++c)
            vt[size_t(c * total + j)] = kv.dtype == DType::BF16 ? static_cast<const uint16_t*>(vr)[c]
                                                                : f32_to_bf16(static_cast<const float*>(vr)[c]);
        }
        matmul(out + int64_t(h) * hd, ldo, scores, total, T, WeightView::dense(DType::BF16, vt.data(), hd, total),
               nullptr, products);
      } else {  // V_h (total, hd) read as W = V_hᵀ (hd, total)
        matmul(out + int64_t(h) * hd, ldo, scores, total, T,
               WeightView::dense(kv.dtype, vh, total, hd).transposed(), nullptr, Precision::F32);
      }
    }
    if (buffer.capacity() * sizeof(float) > kKeptScoreBytes) buffer = {};
  }
}

}  // namespace adallava
