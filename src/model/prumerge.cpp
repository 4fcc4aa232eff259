#include "model/prumerge.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "kernels/ops.h"

namespace adallava {

namespace {

constexpr int kNeighbours = 32;  // the authors' hard-coded k

// NumPy 1.24's percentile with linear interpolation on float32 data: the difference of the two
// neighbours is float32, the rest float64, and t >= 0.5 interpolates down from the upper one.
double percentile(const std::vector<float>& sorted, double q) {
  const double pos = q / 100.0 * double(sorted.size() - 1);
  const size_t lo = size_t(pos), hi = std::min(lo + 1, sorted.size() - 1);
  const double t = pos - double(lo);
  const float diff = sorted[hi] - sorted[lo];
  return t >= 0.5 ? double(sorted[hi]) - double(diff) * (1 - t) : double(sorted[lo]) + double(diff) * t;
}

// The CLS row of softmax(Q Kᵀ / sqrt(C)) over all keys (one "head" of the full width), patches only.
std::vector<float> cls_attention(const std::vector<float>& q, const std::vector<float>& k, int64_t N, int64_t C) {
  std::vector<double> logit(size_t(N + 1));
  const double scale = 1.0 / std::sqrt(double(C));
  for (int64_t j = 0; j <= N; ++j) {
    double s = 0;
    for (int64_t c = 0; c < C; ++c) s += double(q[size_t(c)]) * double(k[size_t(j * C + c)]);
    logit[size_t(j)] = s * scale;
  }
  const double mx = *std::max_element(logit.begin(), logit.end());
  double sum = 0;
  for (double& l : logit) sum += (l = std::exp(l - mx));
  std::vector<float> a(static_cast<size_t>(N));
  for (int64_t j = 0; j < N; ++j) a[size_t(j)] = float(logit[size_t(j + 1)] / sum);
  return a;
}

// Indices by descending value, the lower index first among equals.
std::vector<int64_t> by_descending(const std::vector<double>& v, const std::vector<int64_t>& idx, size_t n) {
  std::vector<int64_t> order(idx.size());
  std::iota(order.begin(), order.end(), 0);
  std::partial_sort(order.begin(), order.begin() + long(n), order.end(), [&](int64_t a, int64_t b) {
    return v[size_t(a)] > v[size_t(b)] || (v[size_t(a)] == v[size_t(b)] && a < b);
  });
  std::vector<int64_t> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = idx[size_t(order[i])];
  return out;
}

// PruMerge+'s spatial samples: a grid over [0, N-1) whose step follows the outlier share.
std::vector<int64_t> spatial_samples(int64_t n_out, int64_t N, const std::vector<int64_t>& outliers) {
  const double ratio = double(std::max<int64_t>(n_out, 1)) / double(N);  // none: as if one (theirs divides by 0)
  const int64_t step_length = int64_t(1.0 / ratio);
  const int64_t step = std::max<int64_t>(int64_t(double(step_length) / 3.0), 1);  // theirs: 0 → arange fails
  std::vector<bool> kept(size_t(N), false);
  for (int64_t i : outliers) kept[size_t(i)] = true;
  std::vector<int64_t> out;
  for (int64_t g = 0; g < N - 1; g += step)
    if (!kept[size_t(g)]) out.push_back(g);
  return out;
}

}  // namespace

std::vector<float> prumerge(const float* input, const float* features, int64_t N, const VisionConfig& cfg,
                            const SelectionLayer& sel, bool plus, Precision p, PruMergeTrace* trace) {
  const int64_t C = cfg.hidden_size, rows = N + 1;
  PruMergeTrace local;
  PruMergeTrace& t = trace ? *trace : local;
  // 1. Q and K of the last layer (with biases, before CLIP's own head scaling).
  std::vector<float> xn(size_t(rows * C));
  layer_norm(xn.data(), input, sel.ln_w.data(), sel.ln_b.data(), rows, C, cfg.layer_norm_eps);
  t.q.resize(size_t(rows * C)), t.k.resize(size_t(rows * C));
  sel.q.forward(t.q.data(), xn.data(), rows, p);
  sel.k.forward(t.k.data(), xn.data(), rows, p);
  // 2. CLS attention and its IQR outliers (float32 values, as handed to NumPy).
  t.cls_attention = cls_attention(t.q, t.k, N, C);
  const std::vector<float>& a = t.cls_attention;
  std::vector<float> sorted = a;
  std::sort(sorted.begin(), sorted.end());
  t.q1 = percentile(sorted, 25), t.q3 = percentile(sorted, 75);
  t.upper = t.q3 + 1.5 * (t.q3 - t.q1);
  const float fence = float(t.upper);  // NumPy compares a float32 array with a float64 scalar in float32
  std::vector<int64_t> all(static_cast<size_t>(N));
  std::iota(all.begin(), all.end(), 0);
  const int64_t n_out = std::count_if(a.begin(), a.end(), [&](float v) { return v > fence; });
  const std::vector<double> a64(a.begin(), a.end());
  t.outliers = by_descending(a64, all, size_t(n_out));
  // 3. Kept rows: the outliers by attention, then (PruMerge+) the grid samples ascending.
  t.samples = plus ? spatial_samples(n_out, N, t.outliers) : std::vector<int64_t>{};
  t.kept = t.outliers;
  t.kept.insert(t.kept.end(), t.samples.begin(), t.samples.end());
  std::vector<bool> is_kept(size_t(N), false);
  for (int64_t i : t.kept) is_kept[size_t(i)] = true;
  t.complement.clear();
  for (int64_t j = 0; j < N; ++j)
    if (!is_kept[size_t(j)]) t.complement.push_back(j);

  // 4. Unit patch keys; each kept row absorbs its most key-similar others, weighted by attention.
  std::vector<double> key(size_t(N * C));
  for (int64_t j = 0; j < N; ++j) {
    const float* kj = t.k.data() + (j + 1) * C;
    double norm = 0;
    for (int64_t c = 0; c < C; ++c) norm += double(kj[c]) * double(kj[c]);
    norm = std::max(std::sqrt(norm), 1e-12);
    for (int64_t c = 0; c < C; ++c) key[size_t(j * C + c)] = double(kj[c]) / norm;
  }
  const float* F = features + C;  // patch features, CLS dropped
  const int64_t K = int64_t(t.kept.size()), k_nb = std::min<int64_t>(kNeighbours, N - 1);
  std::vector<float> merged(size_t((K + 1) * C));
  t.neighbours.assign(size_t(K * k_nb), 0);
  t.neighbour_cos.assign(size_t(K * k_nb), 0);
  std::vector<int64_t> cand;
  std::vector<double> cos;
  for (int64_t i = 0; i < K; ++i) {
    const int64_t pi = t.kept[size_t(i)];
    cand.clear();  // every other patch: the other kept ones in kept order, then the complement
    for (int64_t j : t.kept)
      if (j != pi) cand.push_back(j);
    cand.insert(cand.end(), t.complement.begin(), t.complement.end());
    cos.resize(cand.size());
    for (size_t m = 0; m < cand.size(); ++m) {
      double s = 0;
      for (int64_t c = 0; c < C; ++c) s += key[size_t(pi * C + c)] * key[size_t(cand[m] * C + c)];
      cos[m] = s;
    }
    std::vector<int64_t> pos(cand.size());
    std::iota(pos.begin(), pos.end(), 0);
    const std::vector<int64_t> top = by_descending(cos, pos, size_t(k_nb));
    std::vector<double> acc(F + pi * C, F + (pi + 1) * C);
    for (int64_t r = 0; r < k_nb; ++r) {
      const int64_t m = cand[size_t(top[size_t(r)])];
      t.neighbours[size_t(i * k_nb + r)] = m;
      t.neighbour_cos[size_t(i * k_nb + r)] = float(cos[size_t(top[size_t(r)])]);
      for (int64_t c = 0; c < C; ++c) acc[size_t(c)] += double(a[size_t(m)]) * double(F[m * C + c]);
    }
    std::copy(acc.begin(), acc.end(), merged.begin() + i * C);
  }
  // 5. The extra row: every patch not kept, weighted by its attention (not normalized).
  std::vector<double> extra(size_t(C), 0.0);
  for (int64_t j : t.complement)
    for (int64_t c = 0; c < C; ++c) extra[size_t(c)] += double(a[size_t(j)]) * double(F[j * C + c]);
  std::copy(extra.begin(), extra.end(), merged.begin() + K * C);
  return merged;
}

}  // namespace adallava
