#include "adaptive/scheduler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "tensor/error.h"

namespace adallava {

Scheduler Scheduler::load(const TensorStore& store, const std::string& name, int hidden, int n_heads,
                          const AdaConfig& a) {
  Scheduler s;
  s.head_ = load_linear(store, name, a.head_outputs(n_heads), hidden, true);
  return s;
}

std::vector<float> Scheduler::logits(const float* x) const {
  std::vector<float> out(size_t(head_.out_features()));
  head_.forward(out.data(), x, 1, Precision::F32);
  return out;
}

std::vector<float> Scheduler::head_weight() const {
  return widen_matrix(head_.w);
}

namespace {

// softmax over the unpicked entries, rounded to dtype, picked entries set to −1: what the
// released code takes its argmax / top-k over.
std::vector<float> masked_softmax(const float* logits, const float* picked, int n, DType dtype) {
  float mx = -std::numeric_limits<float>::infinity();
  for (int i = 0; i < n; ++i)
    if (picked[i] == 0.f) mx = std::max(mx, round_to(dtype, logits[i]));
  std::vector<float> y(size_t(n), -1.f);
  double sum = 0;
  for (int i = 0; i < n; ++i)
    if (picked[i] == 0.f) sum += y[size_t(i)] = std::exp(round_to(dtype, logits[i]) - mx);
  for (int i = 0; i < n; ++i)
    if (picked[i] == 0.f) y[size_t(i)] = round_to(dtype, float(y[size_t(i)] / sum));
  return y;
}

int first_argmax(const std::vector<float>& y) {
  return int(std::max_element(y.begin(), y.end()) - y.begin());  // first of equal maxima
}

// The k largest entries of y that are not picked (−1), larger first, lower index on ties.
std::vector<int> top_k(const std::vector<float>& y, int k) {
  std::vector<int> idx(y.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) { return y[size_t(a)] > y[size_t(b)]; });
  std::vector<int> out;
  for (int i : idx)
    if (int(out.size()) < k && y[size_t(i)] >= 0.f) out.push_back(i);
  return out;
}

}  // namespace

std::vector<int> select_layers(const std::vector<float>& logits, int units, DType dtype) {
  const int n = int(logits.size());
  std::vector<float> picked(size_t(n), 0.f);
  std::vector<int> order;
  for (int u = 0; u < std::min(units, n); ++u) {
    const int i = first_argmax(masked_softmax(logits.data(), picked.data(), n, dtype));
    picked[size_t(i)] = 1.f;
    order.push_back(i);
  }
  return order;
}

std::vector<float> select_heads(const std::vector<float>& logits, int units, int n_gated, int n_heads, int rank,
                                DType dtype) {
  const int per_layer = 2 * n_heads, n = n_gated * per_layer;
  if (int(logits.size()) != n) throw Error("scheduler: expected " + std::to_string(n) + " logits");
  std::vector<float> picked(size_t(n), 0.f);
  for (int u = 0; u < units; ++u) {
    const std::vector<float> y = masked_softmax(logits.data(), picked.data(), n, dtype);
    const int best = first_argmax(y);
    if (y[size_t(best)] < 0.f) break;  // everything already runs
    const int layer = best / per_layer;
    for (int kind = 0; kind < 2; ++kind) {
      const size_t base = size_t(layer) * size_t(per_layer) + size_t(kind) * size_t(n_heads);
      const std::vector<float> sub = masked_softmax(logits.data() + base, picked.data() + base, n_heads, dtype);
      for (int i : top_k(sub, rank)) picked[base + size_t(i)] = 1.f;
    }
  }
  return picked;
}

ExecutionPlan plan_from_scheduler(const std::vector<float>& logits, int units, const AdaConfig& a, int n_layers,
                                  int n_heads) {
  const int P = a.num_prefix_layers;
  if (a.type == SchedulerType::L) {
    std::vector<int> on(static_cast<size_t>(P));
    std::iota(on.begin(), on.end(), 0);
    for (int g : select_layers(logits, units, a.budget_dtype)) on.push_back(P + g);
    return ExecutionPlan::layers(on, n_layers, n_heads);
  }
  std::vector<float> mask(size_t(n_layers) * 2 * size_t(n_heads), 1.f);
  const std::vector<float> gated =
      select_heads(logits, units, a.num_gated_layers, n_heads, a.scheduler_rank, a.budget_dtype);
  std::copy(gated.begin(), gated.end(), mask.begin() + ptrdiff_t(P) * 2 * n_heads);
  return ExecutionPlan::from_mask(mask.data(), n_layers, n_heads);
}

}  // namespace adallava
