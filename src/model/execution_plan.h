// What runs in the decoder for one request. Per layer: the active attention heads and the
// active MLP neuron groups (AdaLLaVA-H), or all of them, or none (a skipped layer, AdaLLaVA-L).
// A plain LLaVA request is the full plan. The plan is fixed at prefill and reused for every
// decoded token, so nothing a plan switches off ever needs a KV cache.
#pragma once
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace adallava {

struct LayerPlan {
  std::vector<int> heads;       // active attention heads, ascending
  std::vector<int> mlp_groups;  // active MLP neuron groups, ascending
  // The masked form that training runs (spec §5): when set (n_heads each, by head and group
  // index), each active head's attention output and each active group's neurons are multiplied
  // by their gate, so that gradients reach the gates. Empty for inference: hard gates of 1.
  std::vector<float> head_gates, group_gates;
  bool empty() const { return heads.empty() && mlp_groups.empty(); }
  bool operator==(const LayerPlan&) const = default;
};

class ExecutionPlan {
 public:
  ExecutionPlan() = default;
  // Every layer, every head and group. n_groups is the number of MLP groups (= n_heads).
  static ExecutionPlan full(int n_layers, int n_heads);
  // Exactly the listed layers run, in full.
  static ExecutionPlan layers(const std::vector<int>& on, int n_layers, int n_heads);
  // From the authors' plan tensor [n_layers][2][n_heads] (0/1; [l][0][h] head h, [l][1][g] group g).
  static ExecutionPlan from_mask(const float* mask, int n_layers, int n_heads);

  int n_layers() const { return int(layers_.size()); }
  int n_heads() const { return n_heads_; }
  const LayerPlan& layer(int l) const { return layers_[size_t(l)]; }
  LayerPlan& layer(int l) { return layers_[size_t(l)]; }
  bool runs(int l) const { return !layer(l).empty(); }
  bool is_full(int l) const {
    return int(layer(l).heads.size()) == n_heads_ && int(layer(l).mlp_groups.size()) == n_heads_;
  }
  std::vector<int> executed_layers() const;
  // Every unit that any of the plans runs (what a batched step of those requests reads).
  static ExecutionPlan union_of(const std::vector<const ExecutionPlan*>& plans);
  // The plan tensor [n_layers][2][n_heads] of the authors' code.
  std::vector<float> to_mask() const;
  bool operator==(const ExecutionPlan&) const = default;

 private:
  int n_heads_ = 0;
  std::vector<LayerPlan> layers_;
};

// Neurons [begin, end) of MLP group g when `intermediate` neurons are split into n_groups
// contiguous groups; the first intermediate % n_groups groups hold one neuron more.
std::pair<int64_t, int64_t> mlp_group_range(int64_t intermediate, int n_groups, int g);

// Maximal runs [first, first + count) of consecutive values in an ascending list.
std::vector<std::pair<int, int>> contiguous_runs(const std::vector<int>& sorted);

}  // namespace adallava
