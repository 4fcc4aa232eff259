#include "model/execution_plan.h"

#include <algorithm>
#include <numeric>
#include <string>

#include "tensor/error.h"

namespace adallava {

ExecutionPlan ExecutionPlan::full(int n_layers, int n_heads) {
  ExecutionPlan p;
  p.n_heads_ = n_heads;
  LayerPlan all;
  all.heads.resize(size_t(n_heads));
  std::iota(all.heads.begin(), all.heads.end(), 0);
  all.mlp_groups = all.heads;
  p.layers_.assign(size_t(n_layers), all);
  return p;
}

ExecutionPlan ExecutionPlan::layers(const std::vector<int>& on, int n_layers, int n_heads) {
  ExecutionPlan p = full(n_layers, n_heads);
  std::vector<bool> keep(size_t(n_layers), false);
  for (int l : on) {
    if (l < 0 || l >= n_layers)
      throw Error("plan layer " + std::to_string(l) + " is outside the decoder's layers [0, " +
                  std::to_string(n_layers) + ")");
    keep[size_t(l)] = true;
  }
  for (int l = 0; l < n_layers; ++l)
    if (!keep[size_t(l)]) p.layers_[size_t(l)] = LayerPlan{};
  return p;
}

ExecutionPlan ExecutionPlan::from_mask(const float* mask, int n_layers, int n_heads) {
  ExecutionPlan p;
  p.n_heads_ = n_heads;
  p.layers_.resize(size_t(n_layers));
  for (int l = 0; l < n_layers; ++l)
    for (int h = 0; h < n_heads; ++h) {
      if (mask[(size_t(l) * 2 + 0) * size_t(n_heads) + size_t(h)] != 0.f) p.layers_[size_t(l)].heads.push_back(h);
      if (mask[(size_t(l) * 2 + 1) * size_t(n_heads) + size_t(h)] != 0.f) p.layers_[size_t(l)].mlp_groups.push_back(h);
    }
  return p;
}

ExecutionPlan ExecutionPlan::union_of(const std::vector<const ExecutionPlan*>& plans) {
  if (plans.empty()) return {};
  std::vector<float> mask = plans[0]->to_mask();
  for (const ExecutionPlan* p : plans) {
    const std::vector<float> m = p->to_mask();
    for (size_t i = 0; i < m.size(); ++i) mask[i] = std::max(mask[i], m[i]);
  }
  return from_mask(mask.data(), plans[0]->n_layers(), plans[0]->n_heads());
}

std::vector<int> ExecutionPlan::executed_layers() const {
  std::vector<int> out;
  for (int l = 0; l < n_layers(); ++l)
    if (runs(l)) out.push_back(l);
  return out;
}

std::vector<float> ExecutionPlan::to_mask() const {
  std::vector<float> m(size_t(n_layers()) * 2 * size_t(n_heads_), 0.f);
  for (int l = 0; l < n_layers(); ++l) {
    for (int h : layer(l).heads) m[(size_t(l) * 2 + 0) * size_t(n_heads_) + size_t(h)] = 1.f;
    for (int g : layer(l).mlp_groups) m[(size_t(l) * 2 + 1) * size_t(n_heads_) + size_t(g)] = 1.f;
  }
  return m;
}

std::pair<int64_t, int64_t> mlp_group_range(int64_t intermediate, int n_groups, int g) {
  const int64_t base = intermediate / n_groups, rem = intermediate % n_groups;
  const int64_t begin = int64_t(g) * base + std::min<int64_t>(g, rem);
  return {begin, begin + base + (g < rem ? 1 : 0)};
}

std::vector<std::pair<int, int>> contiguous_runs(const std::vector<int>& sorted) {
  std::vector<std::pair<int, int>> runs;
  for (int v : sorted) {
    if (!runs.empty() && runs.back().first + runs.back().second == v)
      ++runs.back().second;
    else
      runs.push_back({v, 1});
  }
  return runs;
}

}  // namespace adallava
