// Per-request K/V storage of the decoder: one head-major block per executed layer, none for a
// layer the plan skips. Capacity is fixed when the request starts (prompt + tokens to generate).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/attention.h"
#include "model/execution_plan.h"

namespace adallava {

class KvCache {
 public:
  KvCache() = default;
  KvCache(int n_layers, int n_kv_heads, int head_dim, int64_t capacity, const ExecutionPlan& plan);

  KvView layer(int l);
  bool allocated(int l) const { return !k_[size_t(l)].empty(); }
  int64_t capacity() const { return capacity_; }
  int64_t length() const { return length_; }
  void set_length(int64_t n) { length_ = n; }
  size_t bytes() const;

 private:
  std::vector<std::vector<float>> k_, v_;
  int n_kv_heads_ = 0, head_dim_ = 0;
  int64_t capacity_ = 0, length_ = 0;
};

}  // namespace adallava
