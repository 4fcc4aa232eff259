#include "adaptive/plan_policy.h"

#include <algorithm>
#include <numeric>
#include <random>
#include <sstream>

#include "tensor/error.h"

namespace adallava {

PlanPolicy PlanPolicy::parse(const std::string& text) {
  PlanPolicy p;
  if (text == "scheduler") return p;
  if (text == "early-exit") return p.kind = EarlyExit, p;
  if (text == "random") return p.kind = Random, p;
  p.kind = Layers;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t used = 0;
    int l = -1;
    try {
      l = std::stoi(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (item.empty() || used != item.size() || l < 0)
      throw Error("plan '" + text + "' is not scheduler, early-exit, random or a list of layer numbers");
    p.layers.push_back(l);
  }
  if (p.layers.empty()) throw Error("plan '" + text + "' lists no layers");
  return p;
}

std::string PlanPolicy::name() const {
  switch (kind) {
    case Scheduler:
      return "scheduler";
    case EarlyExit:
      return "early-exit";
    case Random:
      return "random";
    case Layers:
      return "layers";
    case Fixed:
      return "fixed";
  }
  return "?";
}

namespace {

// Prefix layers in full, gated layers off.
ExecutionPlan prefix_only(const AdaConfig& a, int n_layers, int n_heads) {
  std::vector<int> on(static_cast<size_t>(a.num_prefix_layers));
  std::iota(on.begin(), on.end(), 0);
  return ExecutionPlan::layers(on, n_layers, n_heads);
}

// Turns on `count` more rank-sized slices of heads and groups of layer l: the first ones of
// the heads (groups) still off, after `order` has arranged them.
template <typename Order>
void add_slices(ExecutionPlan& plan, int l, int count, int rank, int n_heads, Order order) {
  LayerPlan& lp = plan.layer(l);
  for (std::vector<int>* set : {&lp.heads, &lp.mlp_groups}) {
    std::vector<int> off;
    for (int h = 0; h < n_heads; ++h)
      if (!std::binary_search(set->begin(), set->end(), h)) off.push_back(h);
    order(off);
    for (int i = 0; i < count * rank && i < int(off.size()); ++i) set->push_back(off[size_t(i)]);
    std::sort(set->begin(), set->end());
  }
}

}  // namespace

ExecutionPlan early_exit_plan(int units, const AdaConfig& a, int n_layers, int n_heads) {
  ExecutionPlan plan = prefix_only(a, n_layers, n_heads);
  const int rank = a.type == SchedulerType::L ? n_heads : a.scheduler_rank;
  for (int u = 0; u < units; ++u)
    add_slices(plan, a.num_prefix_layers + u / a.units_per_layer, 1, rank, n_heads, [](std::vector<int>&) {});
  return plan;
}

ExecutionPlan random_plan(int units, uint64_t seed, const AdaConfig& a, int n_layers, int n_heads) {
  std::mt19937_64 rng(seed);
  // Fisher–Yates with a plain modulo: the same plans on every standard library.
  auto shuffle = [&](std::vector<int>& v) {
    for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[size_t(rng() % i)]);
  };
  std::vector<int> slots(size_t(a.max_units()));
  std::iota(slots.begin(), slots.end(), 0);
  shuffle(slots);
  std::vector<int> per_layer(size_t(a.num_gated_layers), 0);
  for (int u = 0; u < units; ++u) ++per_layer[size_t(slots[size_t(u)] / a.units_per_layer)];
  ExecutionPlan plan = prefix_only(a, n_layers, n_heads);
  const int rank = a.type == SchedulerType::L ? n_heads : a.scheduler_rank;
  for (int g = 0; g < a.num_gated_layers; ++g)
    if (per_layer[size_t(g)] > 0)
      add_slices(plan, a.num_prefix_layers + g, per_layer[size_t(g)], rank, n_heads, shuffle);
  return plan;
}

}  // namespace adallava
