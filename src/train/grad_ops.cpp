#include "train/grad_ops.h"

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "kernels/matmul.h"
#include "tensor/error.h"

namespace adallava::train {

template <class F>
void linear_forward(F* y, const F* x, const F* w, const F* b, int64_t T, int64_t K, int64_t N) {
  if constexpr (std::is_same_v<F, float>) {  // the engine's packed kernels
    matmul(y, N, x, K, T, WeightView::dense(DType::F32, w, N, K), b, Precision::F32);
    return;
  }
  for (int64_t t = 0; t < T; ++t)
    for (int64_t n = 0; n < N; ++n) {
      F acc = b ? b[n] : F(0);
      for (int64_t k = 0; k < K; ++k) acc += x[t * K + k] * w[n * K + k];
      y[t * N + n] = acc;
    }
}

template <class F>
void linear_backward(F* dx, F* dw, F* db, const F* dy, const F* x, const F* w, int64_t T, int64_t K, int64_t N) {
  if constexpr (std::is_same_v<F, float>) {  // the engine's packed kernels
    // dx (T, K) += dy (T, N) · W (N, K): W read transposed as a [K, N] view.
    if (dx) matmul(dx, K, dy, N, T, WeightView::dense(DType::F32, w, N, K).transposed(), nullptr, Precision::F32, true);
    // dW (N, K) += dyᵀ (N, T) · x (T, K): x read transposed as a [K, T] view.
    if (dw) {
      std::vector<float> dyt(static_cast<size_t>(N * T));
      for (int64_t t = 0; t < T; ++t)
        for (int64_t n = 0; n < N; ++n) dyt[size_t(n * T + t)] = dy[t * N + n];
      matmul(dw, K, dyt.data(), T, N, WeightView::dense(DType::F32, x, T, K).transposed(), nullptr, Precision::F32,
             true);
    }
    if (db)
      for (int64_t t = 0; t < T; ++t)
        for (int64_t n = 0; n < N; ++n) db[n] += dy[t * N + n];
    return;
  }
  for (int64_t t = 0; t < T; ++t)
    for (int64_t n = 0; n < N; ++n) {
      const F g = dy[t * N + n];
      if (db) db[n] += g;
      for (int64_t k = 0; k < K; ++k) {
        if (dx) dx[t * K + k] += g * w[n * K + k];
        if (dw) dw[n * K + k] += g * x[t * K + k];
      }
    }
}

template <class F>
void rms_norm_stats(F* r, const F* x, int64_t T, int64_t C, F eps) {
  for (int64_t t = 0; t < T; ++t) {
    F ss = 0;
    for (int64_t c = 0; c < C; ++c) ss += x[t * C + c] * x[t * C + c];
    r[t] = F(1) / std::sqrt(ss / F(C) + eps);
  }
}

template <class F>
void rms_norm_forward(F* out, F* r, const F* x, const F* w, int64_t T, int64_t C, F eps) {
  rms_norm_stats(r, x, T, C, eps);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t c = 0; c < C; ++c) out[t * C + c] = x[t * C + c] * r[t] * w[c];
}

template <class F>
void rms_norm_backward(F* dx, F* dw, const F* dout, const F* x, const F* w, const F* r, int64_t T, int64_t C) {
  for (int64_t t = 0; t < T; ++t) {
    const F* xr = x + t * C;
    const F* g = dout + t * C;
    F dot = 0;  // Σ_c (dout·w)_c x_c
    for (int64_t c = 0; c < C; ++c) dot += g[c] * w[c] * xr[c];
    const F rt = r[t], k = rt * rt * rt * dot / F(C);
    for (int64_t c = 0; c < C; ++c) {
      if (dx) dx[t * C + c] += rt * g[c] * w[c] - k * xr[c];
      if (dw) dw[c] += g[c] * xr[c] * rt;
    }
  }
}

template <class F>
void layer_norm_stats(F* mean, F* r, const F* x, int64_t T, int64_t C, F eps) {
  for (int64_t t = 0; t < T; ++t) {
    const F* xr = x + t * C;
    F m = 0, var = 0;
    for (int64_t c = 0; c < C; ++c) m += xr[c];
    m /= F(C);
    for (int64_t c = 0; c < C; ++c) var += (xr[c] - m) * (xr[c] - m);
    mean[t] = m;
    r[t] = F(1) / std::sqrt(var / F(C) + eps);
  }
}

template <class F>
void layer_norm_forward(F* out, F* mean, F* r, const F* x, const F* w, const F* b, int64_t T, int64_t C, F eps) {
  layer_norm_stats(mean, r, x, T, C, eps);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t c = 0; c < C; ++c) out[t * C + c] = (x[t * C + c] - mean[t]) * r[t] * w[c] + b[c];
}

template <class F>
void layer_norm_backward(F* dx, F* dw, F* db, const F* dout, const F* x, const F* w, const F* mean, const F* r,
                         int64_t T, int64_t C) {
  for (int64_t t = 0; t < T; ++t) {
    const F* xr = x + t * C;
    const F* g = dout + t * C;
    F mean_dxhat = 0, mean_dxhat_xhat = 0;
    for (int64_t c = 0; c < C; ++c) {
      const F xhat = (xr[c] - mean[t]) * r[t];
      mean_dxhat += g[c] * w[c];
      mean_dxhat_xhat += g[c] * w[c] * xhat;
      if (dw) dw[c] += g[c] * xhat;
      if (db) db[c] += g[c];
    }
    mean_dxhat /= F(C);
    mean_dxhat_xhat /= F(C);
    if (dx)
      for (int64_t c = 0; c < C; ++c) {
        const F xhat = (xr[c] - mean[t]) * r[t];
        dx[t * C + c] += r[t] * (g[c] * w[c] - mean_dxhat - xhat * mean_dxhat_xhat);
      }
  }
}

namespace {
template <class F>
F sigmoid(F x) {
  return F(1) / (F(1) + std::exp(-x));
}
constexpr double kQuickGeluA = 1.702;
}  // namespace

Act act_named(const std::string& name) {
  if (name == "silu") return Act::Silu;
  if (name == "gelu") return Act::GeluErf;
  if (name == "quick_gelu") return Act::QuickGelu;
  throw Error("activation '" + name + "' cannot be trained (silu, gelu, quick_gelu)");
}

template <class F>
void act_forward(Act a, F* out, const F* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const F v = x[i];
    switch (a) {
      case Act::Silu:
        out[i] = v * sigmoid(v);
        break;
      case Act::GeluErf:
        out[i] = F(0.5) * v * (F(1) + std::erf(v / std::sqrt(F(2))));
        break;
      case Act::QuickGelu:
        out[i] = v * sigmoid(F(kQuickGeluA) * v);
        break;
    }
  }
}

template <class F>
void act_backward(Act a, F* dx, const F* dout, const F* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const F v = x[i];
    F d = 0;
    switch (a) {
      case Act::Silu: {
        const F s = sigmoid(v);
        d = s * (F(1) + v * (F(1) - s));
        break;
      }
      case Act::GeluErf: {
        const F pdf = std::exp(-v * v / F(2)) / std::sqrt(F(2) * F(M_PI));
        d = F(0.5) * (F(1) + std::erf(v / std::sqrt(F(2)))) + v * pdf;
        break;
      }
      case Act::QuickGelu: {
        const F s = sigmoid(F(kQuickGeluA) * v);
        d = s + F(kQuickGeluA) * v * s * (F(1) - s);
        break;
      }
    }
    dx[i] += dout[i] * d;
  }
}

template <class F>
void swiglu_forward(F* out, const F* g, const F* u, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = g[i] * sigmoid(g[i]) * u[i];
}

template <class F>
void swiglu_backward(F* dg, F* du, const F* dout, const F* g, const F* u, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const F s = sigmoid(g[i]);
    dg[i] += dout[i] * u[i] * s * (F(1) + g[i] * (F(1) - s));
    du[i] += dout[i] * g[i] * s;
  }
}

template <class F>
void rope(F* x, int64_t ld, int64_t T, int n_heads, int head_dim, const int64_t* positions, const float* inv_freq,
          bool inverse) {
  const int half = head_dim / 2;
  for (int64_t t = 0; t < T; ++t)
    for (int i = 0; i < half; ++i) {
      const float angle = float(positions[t]) * inv_freq[i];  // f32 product, as HF
      const F c = F(std::cos(double(angle))), s = F(inverse ? -std::sin(double(angle)) : std::sin(double(angle)));
      for (int h = 0; h < n_heads; ++h) {
        F* v = x + t * ld + int64_t(h) * head_dim;
        const F a = v[i], b = v[i + half];
        v[i] = a * c - b * s;
        v[i + half] = b * c + a * s;
      }
    }
}

namespace {

// Float attention through the engine's products, one head per task: S = Q·Kᵀ, softmax, O = P·V;
// backward dP = dO·Vᵀ, dS = P ⊙ (dP − Σ P dP), dQ = dS·K, dK = dSᵀ·Q, dV = Pᵀ·dO (scaled).
// Heads sharing a KV head run in one task so their dK/dV sums never race.
WeightView strided(const float* data, int64_t rows, int64_t cols, int64_t row_stride, int64_t col_stride) {
  return {DType::F32, data, rows, cols, row_stride, col_stride};
}

void attention_probs_fast(float* p, const float* q, const float* k, int64_t T, int n_heads, int n_kv, int hd,
                          float scale, bool causal) {
  const int group = n_heads / n_kv;
  const int64_t qd = int64_t(n_heads) * hd, kvd = int64_t(n_kv) * hd;
#pragma omp parallel for schedule(dynamic, 1)
  for (int h = 0; h < n_heads; ++h) {
    float* P = p + int64_t(h) * T * T;
    matmul(P, T, q + h * hd, qd, T, strided(k + (h / group) * hd, T, hd, kvd, 1), nullptr, Precision::F32);
    for (int64_t t = 0; t < T; ++t) {
      float* pr = P + t * T;
      const int64_t visible = causal ? t + 1 : T;
      float mx = -INFINITY;
      for (int64_t j = 0; j < visible; ++j) mx = std::max(mx, pr[j] *= scale);
      float z = 0;
      for (int64_t j = 0; j < visible; ++j) z += (pr[j] = std::exp(pr[j] - mx));
      const float inv = 1.f / z;
      for (int64_t j = 0; j < visible; ++j) pr[j] *= inv;
      for (int64_t j = visible; j < T; ++j) pr[j] = 0.f;
    }
  }
}

void attention_values_fast(float* out, const float* p, const float* v, int64_t T, int n_heads, int n_kv, int hd) {
  const int group = n_heads / n_kv;
  const int64_t qd = int64_t(n_heads) * hd, kvd = int64_t(n_kv) * hd;
#pragma omp parallel for schedule(dynamic, 1)
  for (int h = 0; h < n_heads; ++h)
    matmul(out + h * hd, qd, p + int64_t(h) * T * T, T, T, strided(v + (h / group) * hd, hd, T, 1, kvd), nullptr,
           Precision::F32);
}

void attention_backward_fast(float* dq, float* dk, float* dv, const float* dout, const float* p, const float* q,
                             const float* k, const float* v, int64_t T, int n_heads, int n_kv, int hd, float scale) {
  const int group = n_heads / n_kv;
  const int64_t qd = int64_t(n_heads) * hd, kvd = int64_t(n_kv) * hd;
#pragma omp parallel for schedule(dynamic, 1)
  for (int g = 0; g < n_kv; ++g) {
    std::vector<float> ds(static_cast<size_t>(T * T)), t_buf(static_cast<size_t>(T * T));
    for (int h = g * group; h < (g + 1) * group; ++h) {
      const float* P = p + int64_t(h) * T * T;
      const float* dO = dout + h * hd;
      matmul(ds.data(), T, dO, qd, T, strided(v + g * hd, T, hd, kvd, 1), nullptr, Precision::F32);  // dP
      for (int64_t t = 0; t < T; ++t) {
        const float* pr = P + t * T;
        float* d = ds.data() + t * T;
        float sum = 0;
        for (int64_t j = 0; j < T; ++j) sum += pr[j] * d[j];
        for (int64_t j = 0; j < T; ++j) d[j] = pr[j] * (d[j] - sum) * scale;
      }
      matmul(dq + h * hd, qd, ds.data(), T, T, strided(k + g * hd, hd, T, 1, kvd), nullptr, Precision::F32, true);
      for (int64_t t = 0; t < T; ++t)  // dSᵀ
        for (int64_t j = 0; j < T; ++j) t_buf[size_t(j * T + t)] = ds[size_t(t * T + j)];
      matmul(dk + g * hd, kvd, t_buf.data(), T, T, strided(q + h * hd, hd, T, 1, qd), nullptr, Precision::F32, true);
      for (int64_t t = 0; t < T; ++t)  // Pᵀ
        for (int64_t j = 0; j < T; ++j) t_buf[size_t(j * T + t)] = P[t * T + j];
      matmul(dv + g * hd, kvd, t_buf.data(), T, T, strided(dO, hd, T, 1, qd), nullptr, Precision::F32, true);
    }
  }
}

}  // namespace

template <class F>
void attention_probs(F* p, const F* q, const F* k, int64_t T, int n_heads, int n_kv, int hd, F scale, bool causal) {
  if constexpr (std::is_same_v<F, float>) {
    attention_probs_fast(p, q, k, T, n_heads, n_kv, hd, scale, causal);
    return;
  }
  const int group = n_heads / n_kv;
  const int64_t qd = int64_t(n_heads) * hd, kvd = int64_t(n_kv) * hd;
  for (int h = 0; h < n_heads; ++h)
    for (int64_t t = 0; t < T; ++t) {
      F* pr = p + (int64_t(h) * T + t) * T;
      const int64_t visible = causal ? t + 1 : T;
      F mx = -INFINITY;
      for (int64_t j = 0; j < visible; ++j) {
        F s = 0;
        for (int c = 0; c < hd; ++c) s += q[t * qd + h * hd + c] * k[j * kvd + (h / group) * hd + c];
        mx = std::max(mx, pr[j] = s * scale);
      }
      F z = 0;
      for (int64_t j = 0; j < visible; ++j) z += (pr[j] = std::exp(pr[j] - mx));
      for (int64_t j = 0; j < T; ++j) pr[j] = j < visible ? pr[j] / z : F(0);
    }
}

template <class F>
void attention_forward(F* out, F* p, const F* q, const F* k, const F* v, int64_t T, int n_heads, int n_kv, int hd,
                       F scale, bool causal) {
  attention_probs(p, q, k, T, n_heads, n_kv, hd, scale, causal);
  if constexpr (std::is_same_v<F, float>) {
    attention_values_fast(out, p, v, T, n_heads, n_kv, hd);
    return;
  }
  const int group = n_heads / n_kv;
  const int64_t qd = int64_t(n_heads) * hd, kvd = int64_t(n_kv) * hd;
  for (int h = 0; h < n_heads; ++h)
    for (int64_t t = 0; t < T; ++t)
      for (int c = 0; c < hd; ++c) {
        F o = 0;
        for (int64_t j = 0; j < T; ++j) o += p[(int64_t(h) * T + t) * T + j] * v[j * kvd + (h / group) * hd + c];
        out[t * qd + h * hd + c] = o;
      }
}

template <class F>
void attention_backward(F* dq, F* dk, F* dv, const F* dout, const F* p, const F* q, const F* k, const F* v, int64_t T,
                        int n_heads, int n_kv, int hd, F scale) {
  if constexpr (std::is_same_v<F, float>) {
    attention_backward_fast(dq, dk, dv, dout, p, q, k, v, T, n_heads, n_kv, hd, scale);
    return;
  }
  const int group = n_heads / n_kv;
  const int64_t qd = int64_t(n_heads) * hd, kvd = int64_t(n_kv) * hd;
  std::vector<F> dp(static_cast<size_t>(T));
  for (int h = 0; h < n_heads; ++h) {
    const int g = h / group;
    for (int64_t t = 0; t < T; ++t) {
      const F* pr = p + (int64_t(h) * T + t) * T;
      const F* go = dout + t * qd + h * hd;
      // dP = dO · Vᵀ; dS = P ⊙ (dP − Σ P dP)   (masked entries have P = 0)
      F sum = 0;
      for (int64_t j = 0; j < T; ++j) {
        F d = 0;
        if (pr[j] != F(0))
          for (int c = 0; c < hd; ++c) d += go[c] * v[j * kvd + g * hd + c];
        dp[size_t(j)] = d;
        sum += pr[j] * d;
      }
      for (int64_t j = 0; j < T; ++j) {
        if (pr[j] == F(0)) continue;
        const F ds = pr[j] * (dp[size_t(j)] - sum) * scale;
        for (int c = 0; c < hd; ++c) {
          dq[t * qd + h * hd + c] += ds * k[j * kvd + g * hd + c];
          dk[j * kvd + g * hd + c] += ds * q[t * qd + h * hd + c];
          dv[j * kvd + g * hd + c] += pr[j] * go[c];
        }
      }
    }
  }
}

template <class F>
F cross_entropy(F* dlogits, const F* logits, const int64_t* targets, int64_t T, int64_t V, int64_t ignore_index,
                F dloss, int64_t* n_out) {
  int64_t n = 0;
  for (int64_t t = 0; t < T; ++t) n += targets[t] != ignore_index;
  if (n_out) *n_out = n;
  if (n == 0) return F(0);
  F loss = 0;
  for (int64_t t = 0; t < T; ++t) {
    if (targets[t] == ignore_index) continue;
    const F* l = logits + t * V;
    const F mx = *std::max_element(l, l + V);
    F z = 0;
    for (int64_t i = 0; i < V; ++i) z += std::exp(l[i] - mx);
    loss += std::log(z) + mx - l[targets[t]];
    if (dlogits)
      for (int64_t i = 0; i < V; ++i)
        dlogits[t * V + i] += dloss * (std::exp(l[i] - mx) / z - F(i == targets[t])) / F(n);
  }
  return loss / F(n);
}

template <class F>
void embedding_forward(F* out, const F* table, const int64_t* ids, int64_t T, int64_t C) {
  for (int64_t t = 0; t < T; ++t) std::copy(table + ids[t] * C, table + (ids[t] + 1) * C, out + t * C);
}

template <class F>
void embedding_backward(F* dtable, const F* dout, const int64_t* ids, int64_t T, int64_t C) {
  for (int64_t t = 0; t < T; ++t)
    for (int64_t c = 0; c < C; ++c) dtable[ids[t] * C + c] += dout[t * C + c];
}

#define ADALLAVA_INSTANTIATE(F)                                                                                        \
  template void linear_forward<F>(F*, const F*, const F*, const F*, int64_t, int64_t, int64_t);                        \
  template void linear_backward<F>(F*, F*, F*, const F*, const F*, const F*, int64_t, int64_t, int64_t);               \
  template void rms_norm_stats<F>(F*, const F*, int64_t, int64_t, F);                                                 \
  template void rms_norm_forward<F>(F*, F*, const F*, const F*, int64_t, int64_t, F);                                  \
  template void layer_norm_stats<F>(F*, F*, const F*, int64_t, int64_t, F);                                            \
  template void rms_norm_backward<F>(F*, F*, const F*, const F*, const F*, const F*, int64_t, int64_t);                \
  template void layer_norm_forward<F>(F*, F*, F*, const F*, const F*, const F*, int64_t, int64_t, F);                  \
  template void layer_norm_backward<F>(F*, F*, F*, const F*, const F*, const F*, const F*, const F*, int64_t,          \
                                       int64_t);                                                                       \
  template void act_forward<F>(Act, F*, const F*, int64_t);                                                            \
  template void act_backward<F>(Act, F*, const F*, const F*, int64_t);                                                 \
  template void swiglu_forward<F>(F*, const F*, const F*, int64_t);                                                    \
  template void swiglu_backward<F>(F*, F*, const F*, const F*, const F*, int64_t);                                     \
  template void rope<F>(F*, int64_t, int64_t, int, int, const int64_t*, const float*, bool);                           \
  template void attention_probs<F>(F*, const F*, const F*, int64_t, int, int, int, F, bool);                          \
  template void attention_forward<F>(F*, F*, const F*, const F*, const F*, int64_t, int, int, int, F, bool);           \
  template void attention_backward<F>(F*, F*, F*, const F*, const F*, const F*, const F*, const F*, int64_t, int, int, \
                                      int, F);                                                                         \
  template F cross_entropy<F>(F*, const F*, const int64_t*, int64_t, int64_t, int64_t, F, int64_t*);                   \
  template void embedding_forward<F>(F*, const F*, const int64_t*, int64_t, int64_t);                                  \
  template void embedding_backward<F>(F*, const F*, const int64_t*, int64_t, int64_t);

ADALLAVA_INSTANTIATE(float)
ADALLAVA_INSTANTIATE(double)

}  // namespace adallava::train
