// What runs in the decoder for one request: per layer, on or off. A plain LLaVA request is the
// full plan. The plan is fixed at prefill and reused for every decoded token, so the KV cache
// of a skipped layer is never needed.
#pragma once
#include <cstddef>
#include <vector>

namespace adallava {

struct ExecutionPlan {
  std::vector<bool> layer_on;

  static ExecutionPlan full(int n_layers) { return {std::vector<bool>(size_t(n_layers), true)}; }
  bool runs(int layer) const { return layer_on[size_t(layer)]; }
  int n_layers() const { return int(layer_on.size()); }
};

}  // namespace adallava
