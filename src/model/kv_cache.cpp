#include "model/kv_cache.h"

namespace adallava {

int kv_heads_for(const LayerPlan& lp, int n_heads, int n_kv_heads) {
  if (lp.heads.empty()) return 0;
  return int(lp.heads.size()) == n_heads ? n_kv_heads : int(lp.heads.size());
}

KvCache::KvCache(int n_layers, int head_dim, int64_t capacity, DType dtype)
    : k_(size_t(n_layers)),
      v_(size_t(n_layers)),
      heads_(size_t(n_layers), 0),
      dropped_(size_t(n_layers), 0),
      ahead_(size_t(n_layers), 0),
      head_dim_(head_dim),
      dtype_(dtype),
      capacity_(capacity) {}

void KvCache::allocate(const ExecutionPlan& plan, int n_kv_heads, int l0, int l1) {
  for (int l = l0; l < l1; ++l) {
    if (allocated(l)) continue;
    const int h = kv_heads_for(plan.layer(l), plan.n_heads(), n_kv_heads);
    const size_t n = size_t(h) * size_t(capacity_) * size_t(head_dim_) * dtype_size(dtype_);
    k_[size_t(l)].resize(n);
    v_[size_t(l)].resize(n);
    heads_[size_t(l)] = h;
  }
}

void KvCache::set_length(int64_t n) {
  length_ = n;
  for (int64_t& a : ahead_) a = 0;
}

void KvCache::put_ahead(int l0, int l1, int64_t n) {
  for (int l = l0; l < l1; ++l) ahead_[size_t(l)] += n;
}

void KvCache::drop_rows(int l0, int64_t n) {
  for (size_t l = size_t(l0); l < dropped_.size(); ++l) dropped_[l] += n;
}

KvView KvCache::layer(int l) {
  return {k_[size_t(l)].data(), v_[size_t(l)].data(), capacity_, head_dim_, heads_[size_t(l)], dtype_};
}

size_t KvCache::bytes() const {
  size_t b = 0;
  for (size_t l = 0; l < k_.size(); ++l) b += k_[l].size() + v_[l].size();
  return b;
}

}  // namespace adallava
