#include "model/kv_cache.h"

namespace adallava {

KvCache::KvCache(int n_layers, int n_kv_heads, int head_dim, int64_t capacity, const ExecutionPlan& plan)
    : k_(static_cast<size_t>(n_layers)), v_(static_cast<size_t>(n_layers)), n_kv_heads_(n_kv_heads), head_dim_(head_dim), capacity_(capacity) {
  const size_t n = size_t(n_kv_heads) * size_t(capacity) * size_t(head_dim);
  for (int l = 0; l < n_layers; ++l)
    if (plan.runs(l)) {
      k_[size_t(l)].resize(n);
      v_[size_t(l)].resize(n);
    }
}

KvView KvCache::layer(int l) {
  return {k_[size_t(l)].data(), v_[size_t(l)].data(), capacity_, head_dim_, n_kv_heads_};
}

size_t KvCache::bytes() const {
  size_t b = 0;
  for (size_t l = 0; l < k_.size(); ++l) b += (k_[l].size() + v_[l].size()) * sizeof(float);
  return b;
}

}  // namespace adallava
