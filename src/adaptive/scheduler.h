// The scheduler: a linear head on the latency token's residual state after the prefix layers,
// and the deterministic (inference) selection of the authors' code on its logits:
//   L: the `units` highest-scoring gated layers, picked one at a time;
//   H: per unit, the best unpicked entry of all gated layers' [heads | MLP groups] logits picks
//      a layer, then that layer's `rank` best unpicked heads and `rank` best unpicked groups.
// Each pick is an argmax of the softmax over the unpicked entries, rounded to the model dtype,
// first index on ties, exactly as the released code's masked softmax + argmax.
#pragma once
#include <string>
#include <vector>

#include "adaptive/ada_config.h"
#include "io/safetensors.h"
#include "model/execution_plan.h"
#include "model/weights.h"

namespace adallava {

class Scheduler {
 public:
  static Scheduler load(const TensorStore& store, const std::string& name, int hidden, int n_heads, const AdaConfig& a);

  // Logits (head_outputs) of the latency token's residual state x (hidden).
  std::vector<float> logits(const float* x) const;
  int outputs() const { return int(head_.out_features()); }
  const Linear& head() const { return head_; }
  std::vector<float> head_weight() const;  // widened to f32, [outputs, hidden]
  const std::vector<float>& head_bias() const { return head_.b; }

 private:
  Linear head_;
};

// L: gated layer indices (0-based among the gated layers), in pick order.
std::vector<int> select_layers(const std::vector<float>& logits, int units, DType dtype);
// H: the mask [gated layers][2][n_heads] (0/1) of picked heads and MLP groups.
std::vector<float> select_heads(const std::vector<float>& logits, int units, int n_gated, int n_heads, int rank,
                                DType dtype);

// The full execution plan for a scheduler's logits under a unit count (prefix layers in full).
ExecutionPlan plan_from_scheduler(const std::vector<float>& logits, int units, const AdaConfig& a, int n_layers,
                                  int n_heads);

}  // namespace adallava
