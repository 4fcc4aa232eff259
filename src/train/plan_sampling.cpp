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

GumbelSource scaled_gumbel(std::mt19937_64& stream, float scale) {
  return [&stream, scale](float* g, int64_t n) {
    for (int64_t k = 0; k < n; ++k) {
      // Gumbel(0, 1) = −log(E), E ~ Exponential(1) = −log(U), U uniform in (0, 1].
      const double u = (double(stream() >> 11) + 1.0) / 9007199254740993.0;
      g[k] = scale * float(-std::log(-std::log(u)));
    }
  };
}

SampledPlan sample_plan_L(const std::vector<float>& logits, int units, float tau, const GumbelSource& noise) {
  const int64_t n = int64_t(logits.size());
  SampledPlan s{std::vector<float>(size_t(n), 0.f), std::vector<float>(size_t(n), 0.f), {}};
  for (int u = 0; u < units && u < n; ++u) {
    const std::vector<float> y = gumbel_soft(logits.data(), s.plan.data(), n, tau, noise);
    const int64_t pick = top_unmasked(y, s.plan.data(), 1)[0];
    for (int64_t i = 0; i < n; ++i) s.plan[size_t(i)] += straight_through(i == pick ? 1.f : 0.f, y[size_t(i)]);
    s.hard[size_t(pick)] = 1.f;
    s.draws.push_back(UnitDraw{y, {}, {}, {}, {}});
  }
  return s;
}

SampledPlan sample_plan_H(const std::vector<float>& logits, int units, int n_gated, int n_heads, int rank, float tau,
                          const GumbelSource& noise) {
  const int64_t per_layer = 2 * int64_t(n_heads), n = int64_t(n_gated) * per_layer;
  SampledPlan s{std::vector<float>(size_t(n), 0.f), std::vector<float>(size_t(n), 0.f), {}};
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
    std::vector<float> m(size_t(per_layer), 0.f), sub_soft(size_t(per_layer), 0.f);
    for (int kind = 0; kind < 2; ++kind) {
      const int64_t o = int64_t(kind) * n_heads;
      const std::vector<float> ys = gumbel_soft(sub.data() + o, cur.data() + o, n_heads, tau, noise);
      std::vector<float> hard(size_t(n_heads), 0.f);
      for (int64_t i : top_unmasked(ys, cur.data() + o, rank)) hard[size_t(i)] = 1.f;
      for (int64_t i = 0; i < n_heads; ++i) {
        m[size_t(o + i)] = straight_through(hard[size_t(i)], ys[size_t(i)]);
        sub_soft[size_t(o + i)] = ys[size_t(i)];
      }
    }
    for (int l = 0; l < n_gated; ++l)
      for (int64_t j = 0; j < per_layer; ++j) s.plan[size_t(l * per_layer + j)] += layer_hot[size_t(l)] * m[size_t(j)];
    s.draws.push_back(UnitDraw{y, layer_hot, sub, m, sub_soft});
  }
  for (int64_t i = 0; i < n; ++i) s.hard[size_t(i)] = std::round(s.plan[size_t(i)]);
  return s;
}

namespace {

// d/dz of Σ_i soft_i(z) · g_i for soft = softmax(z / tau) over the unmasked entries (soft = 0
// on masked ones): soft ⊙ (g − <soft, g>) / tau, added into dz.
void soft_backward(float* dz, const float* soft, const float* g, int64_t n, float tau) {
  float dot = 0.f;
  for (int64_t i = 0; i < n; ++i) dot += soft[i] * g[i];
  for (int64_t i = 0; i < n; ++i) dz[i] += soft[i] * (g[i] - dot) / tau;
}

}  // namespace

std::vector<float> sample_plan_backward_L(const SampledPlan& s, const std::vector<float>& dplan, float tau) {
  std::vector<float> dlogits(dplan.size(), 0.f);
  for (const UnitDraw& d : s.draws)
    soft_backward(dlogits.data(), d.soft.data(), dplan.data(), int64_t(dplan.size()), tau);
  return dlogits;
}

std::vector<float> sample_plan_backward_H(const SampledPlan& s, const std::vector<float>& logits,
                                          const std::vector<float>& dplan, int n_gated, int n_heads, float tau) {
  const int64_t per_layer = 2 * int64_t(n_heads), n = int64_t(n_gated) * per_layer;
  std::vector<float> dlogits(static_cast<size_t>(n), 0.f);
  // plan = Σ_units layer_hot ⊗ m; each unit's terms are independent given the fixed masks.
  for (const UnitDraw& d : s.draws) {
    std::vector<float> dhot(size_t(n_gated), 0.f), dm(size_t(per_layer), 0.f), dsub(size_t(per_layer), 0.f);
    for (int l = 0; l < n_gated; ++l)
      for (int64_t j = 0; j < per_layer; ++j) {
        const float g = dplan[size_t(l * per_layer + j)];
        dhot[size_t(l)] += g * d.m[size_t(j)];
        dm[size_t(j)] += g * d.layer_hot[size_t(l)];
      }
    // m = straight-through top-r of softmax((sub + noise) / tau), per kind.
    for (int kind = 0; kind < 2; ++kind) {
      const int64_t o = int64_t(kind) * n_heads;
      soft_backward(dsub.data() + o, d.sub_soft.data() + o, dm.data() + o, n_heads, tau);
    }
    // sub = Σ_l logits[l] · layer_hot[l]
    for (int l = 0; l < n_gated; ++l)
      for (int64_t j = 0; j < per_layer; ++j) {
        dlogits[size_t(l * per_layer + j)] += dsub[size_t(j)] * d.layer_hot[size_t(l)];
        dhot[size_t(l)] += dsub[size_t(j)] * logits[size_t(l * per_layer + j)];
      }
    // layer_hot[l] = Σ_j y[l, j], y the straight-through layer draw over every entry.
    std::vector<float> dy(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) dy[size_t(i)] = dhot[size_t(i / per_layer)];
    soft_backward(dlogits.data(), d.soft.data(), dy.data(), n, tau);
  }
  return dlogits;
}

}  // namespace adallava::train
