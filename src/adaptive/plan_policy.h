// Who picks the execution plan of a request: the learned scheduler (default), or, for
// experiments, a baseline with the same unit count (early exit: the first gated units; random:
// seeded), an explicit list of layers to run, or a whole plan given by the caller.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "adaptive/ada_config.h"
#include "model/execution_plan.h"

namespace adallava {

struct PlanPolicy {
  enum Kind { Scheduler, EarlyExit, Random, Layers, Fixed } kind = Scheduler;
  std::vector<int> layers;  // Layers: the layers that run
  ExecutionPlan plan;       // Fixed: the plan itself (heads and groups too)
  uint64_t seed = 0;        // Random

  // "scheduler", "early-exit", "random", or a comma-separated layer list such as "0,1,2,5".
  static PlanPolicy parse(const std::string& text);
  std::string name() const;
};

// Prefix in full plus the first `units` gated units in order (L: layers; H: rank-head slices
// filling each layer before the next).
ExecutionPlan early_exit_plan(int units, const AdaConfig& a, int n_layers, int n_heads);
// Prefix in full plus `units` gated units drawn uniformly without replacement (H: each drawn
// slice of a layer adds rank random heads and rank random MLP groups of it).
ExecutionPlan random_plan(int units, uint64_t seed, const AdaConfig& a, int n_layers, int n_heads);

}  // namespace adallava
