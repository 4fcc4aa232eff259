#include "train/plan_sampling.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace adallava::train {

namespace {

// One masked Gumbel-softmax draw over n logits (mask: entries already picked, nonzero).
// Returns the soft sample y_soft (0 where masked); the picks are the caller's.
std::vector<float> gumbel_soft(const float* logits, const float* mask, int64_t n, float tau,
                               const GumbelSource& noise) {
  std::vector<float> g(static_cast<size_t>(n)), y(static_cast<size_t>(n), 0.f);
  noise(g.data(), n);  // drawn over every entry, masked ones too (as the released code does)
  float mx = -INFINITY;
  for (int64_t i = 0; i < n; ++i) {
    g[size_t(i)] = (logits[i] + g[size_t(i)]) / tau;
    if (mask[i] == 0.f) mx = std::max(mx, g[size_t(i)]);
  }
  float z = 0.f;
  for (int64_t i = 0; i < n; ++i)
    if (mask[i] == 0.f) z += y[size_t(i)] = std::exp(g[size_t(i)] - mx);
  for (auto& v : y) v /= z;
  return y;
}

// Indices of the k largest soft values among unmasked entries (first index on ties).
std::vector<int64_t> top_unmasked(const std::vector<float>& y, const float* mask, int k) {
  std::vector<int64_t> idx(y.size());
  std::iota(idx.begin(), idx.end(), 0);
  auto key = [&](int64_t i) { return mask[i] != 0.f ? -1.f : y[size_t(i)]; };
  std::stable_sort(idx.begin(), idx.end(), [&](int64_t a, int64_t b) { return key(a) > key(b); });
  idx.resize(std::min<size_t>(size_t(k), idx.size()));
  return idx;
}

// Straight-through value of a draw: (y_hard − y_soft) + y_soft, in float as PyTorch evaluates it.
float straight_through(float hard, float soft) {
  return (hard - soft) + soft;
}

}  // namespace

SampledPlan sample_plan_L(const std::vector<float>& logits, int units, float tau, const GumbelSource& noise) {
  const int64_t n = int64_t(logits.size());
  SampledPlan s{std::vector<float>(size_t(n), 0.f), std::vector<float>(size_t(n), 0.f)};
  for (int u = 0; u < units && u < n; ++u) {
    const std::vector<float> y = gumbel_soft(logits.data(), s.plan.data(), n, tau, noise);
    const int64_t pick = top_unmasked(y, s.plan.data(), 1)[0];
    for (int64_t i = 0; i < n; ++i) s.plan[size_t(i)] += straight_through(i == pick ? 1.f : 0.f, y[size_t(i)]);
    s.hard[size_t(pick)] = 1.f;
  }
  return s;
}

SampledPlan sample_plan_H(const std::vector<float>& logits, int units, int n_gated, int n_heads, int rank, float tau,
                          const GumbelSource& noise) {
  const int64_t per_layer = 2 * int64_t(n_heads), n = int64_t(n_gated) * per_layer;
  SampledPlan s{std::vector<float>(size_t(n), 0.f), std::vector<float>(size_t(n), 0.f)};
  for (int u = 0; u < units; ++u) {
    // 1) A layer: one draw over every gated entry; its one-hot summed per layer.
    const std::vector<float> y = gumbel_soft(logits.data(), s.plan.data(), n, tau, noise);
    const int64_t best = top_unmasked(y, s.plan.data(), 1)[0];
    if (s.plan[size_t(best)] != 0.f) break;  // everything already runs
    std::vector<float> layer_hot(size_t(n_gated), 0.f);
    for (int64_t i = 0; i < n; ++i)
      layer_hot[size_t(i / per_layer)] += straight_through(i == best ? 1.f : 0.f, y[size_t(i)]);
    // 2) That layer's current mask and logits (sums weighted by the layer one-hot).
    std::vector<float> cur(size_t(per_layer), 0.f), sub(size_t(per_layer), 0.f);
    for (int l = 0; l < n_gated; ++l)
      for (int64_t j = 0; j < per_layer; ++j) {
        cur[size_t(j)] += s.plan[size_t(l * per_layer + j)] * layer_hot[size_t(l)];
        sub[size_t(j)] += logits[size_t(l * per_layer + j)] * layer_hot[size_t(l)];
      }
    // 3) The top-r heads, then the top-r MLP groups of that layer.
    std::vector<float> m(size_t(per_layer), 0.f);
    for (int kind = 0; kind < 2; ++kind) {
      const int64_t o = int64_t(kind) * n_heads;
      const std::vector<float> ys = gumbel_soft(sub.data() + o, cur.data() + o, n_heads, tau, noise);
      std::vector<float> hard(size_t(n_heads), 0.f);
      for (int64_t i : top_unmasked(ys, cur.data() + o, rank)) hard[size_t(i)] = 1.f;
      for (int64_t i = 0; i < n_heads; ++i) m[size_t(o + i)] = straight_through(hard[size_t(i)], ys[size_t(i)]);
    }
    for (int l = 0; l < n_gated; ++l)
      for (int64_t j = 0; j < per_layer; ++j) s.plan[size_t(l * per_layer + j)] += layer_hot[size_t(l)] * m[size_t(j)];
  }
  for (int64_t i = 0; i < n; ++i) s.hard[size_t(i)] = std::round(s.plan[size_t(i)]);
  return s;
}

}  // namespace adallava::train
