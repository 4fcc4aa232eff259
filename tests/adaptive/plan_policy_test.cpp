// Baseline plans with the scheduler's unit count, and the --plan syntax.
#include "adaptive/plan_policy.h"

#include <gtest/gtest.h>

#include "tensor/error.h"

namespace adallava {
namespace {

AdaConfig h_config() {  // 8 layers, prefix 4, 8 heads, rank 2: 4 units per layer
  AdaConfig a;
  a.type = SchedulerType::H;
  a.num_prefix_layers = 4, a.num_gated_layers = 4, a.scheduler_rank = 2, a.units_per_layer = 4;
  a.prefix_units = 16, a.total_units = 32;
  return a;
}

int active_units(const ExecutionPlan& p, int first_gated, int rank) {
  int n = 0;
  for (int l = first_gated; l < p.n_layers(); ++l) {
    EXPECT_EQ(p.layer(l).heads.size(), p.layer(l).mlp_groups.size());
    EXPECT_EQ(p.layer(l).heads.size() % size_t(rank), 0u);
    n += int(p.layer(l).heads.size()) / rank;
  }
  return n;
}

TEST(PlanPolicy, EarlyExitRunsTheFirstUnits) {
  AdaConfig l;
  l.num_prefix_layers = 4, l.num_gated_layers = 4, l.prefix_units = 4, l.total_units = 8;
  EXPECT_EQ(early_exit_plan(2, l, 8, 4).executed_layers(), (std::vector<int>{0, 1, 2, 3, 4, 5}));
  const ExecutionPlan h = early_exit_plan(6, h_config(), 8, 8);
  EXPECT_TRUE(h.is_full(4));
  EXPECT_EQ(h.layer(5).heads, (std::vector<int>{0, 1, 2, 3}));
  EXPECT_FALSE(h.runs(6));
  EXPECT_EQ(active_units(h, 4, 2), 6);
}

TEST(PlanPolicy, RandomKeepsTheUnitCountAndTheSeedDecides) {
  const AdaConfig a = h_config();
  for (int units = 0; units <= a.max_units(); ++units) {
    const ExecutionPlan p = random_plan(units, 7, a, 8, 8);
    EXPECT_EQ(active_units(p, 4, 2), units);
    for (int l = 0; l < 4; ++l) EXPECT_TRUE(p.is_full(l));
  }
  EXPECT_EQ(random_plan(5, 1, a, 8, 8), random_plan(5, 1, a, 8, 8));
  EXPECT_NE(random_plan(5, 1, a, 8, 8), random_plan(5, 2, a, 8, 8));
}

TEST(PlanPolicy, ParsesNamesAndLayerLists) {
  EXPECT_EQ(PlanPolicy::parse("scheduler").kind, PlanPolicy::Scheduler);
  EXPECT_EQ(PlanPolicy::parse("early-exit").kind, PlanPolicy::EarlyExit);
  EXPECT_EQ(PlanPolicy::parse("random").kind, PlanPolicy::Random);
  const PlanPolicy p = PlanPolicy::parse("0,1,2,5");
  EXPECT_EQ(p.kind, PlanPolicy::Layers);
  EXPECT_EQ(p.layers, (std::vector<int>{0, 1, 2, 5}));
  for (const char* bad : {"", "fast", "1,,2", "1,-2", "1.5", "2,x"}) EXPECT_THROW(PlanPolicy::parse(bad), Error) << bad;
}

}  // namespace
}  // namespace adallava
