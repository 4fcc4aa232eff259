// Per-request K/V storage of the decoder: one head-major block per executed layer holding only
// the KV heads the plan runs there (all of them for a full layer, the active heads of a partial
// AdaLLaVA-H layer, none for a skipped layer). Capacity is fixed when the request starts.
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
  // No layer allocated yet; see allocate(). dtype: F32, or BF16 (halves the cache and the
  // bytes decode reads from it; used when activations are bf16).
  KvCache(int n_layers, int head_dim, int64_t capacity, DType dtype = DType::F32);

  // Storage for layers [l0, l1) as the plan runs them; n_kv_heads is the model's KV head count.
  // Layers already allocated are kept (the prefix is allocated before the plan is known).
  void allocate(const ExecutionPlan& plan, int n_kv_heads, int l0, int l1);

  KvView layer(int l);
  bool allocated(int l) const { return !k_[size_t(l)].empty(); }
  int heads(int l) const { return heads_[size_t(l)]; }
  DType dtype() const { return dtype_; }
  int64_t capacity() const { return capacity_; }
  // Positions the request has covered; a layer caches fewer rows where FastV dropped some.
  int64_t length() const { return length_; }
  // Sets the positions covered; rows a chunked prefill put ahead in some layers now count in all.
  void set_length(int64_t n);
  int64_t rows(int l) const { return length_ - dropped_[size_t(l)] + ahead_[size_t(l)]; }
  // A chunked prefill's rows that layers [l0, l1) hold before the prompt's last chunk is through
  // every layer (length() moves only then).
  void put_ahead(int l0, int l1, int64_t n);
  // Layers [l0, end) hold n fewer rows than positions (FastV kept only part of the prompt there).
  void drop_rows(int l0, int64_t n);
  size_t bytes() const;

 private:
  std::vector<std::vector<uint8_t>> k_, v_;
  std::vector<int> heads_;
  std::vector<int64_t> dropped_, ahead_;
  int head_dim_ = 0;
  DType dtype_ = DType::F32;
  int64_t capacity_ = 0, length_ = 0;
};

// KV heads a layer plan caches: all for a full head set, the active heads otherwise (partial
// head sets need one KV head per query head, which the decoder checks); none without heads.
int kv_heads_for(const LayerPlan& lp, int n_heads, int n_kv_heads);

}  // namespace adallava
