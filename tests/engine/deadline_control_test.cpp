// The deadline controller against a latency model of given costs: it lowers the budget of a
// request whose encode ran late to what still fits, narrows a request that
// fell behind by the fewest gated layers that make the rest fit, the scheduler's least
// preferred first, leaves one on time alone, and calls the next token late only when even the
// narrowest plan cannot make it.
#include "engine/deadline_control.h"

#include "adaptive/budget.h"
#include "adaptive/deadline.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "test_util.h"

namespace adallava {
namespace {

TEST(DeadlineControl, DropsTheLeastPreferredLayersThatMakeTheRestFit) {
  const std::string dir = test::fixture("adallava_tiny_L");
  auto m = LlavaModel::load(dir);
  const AdaConfig& a = m->adaptive()->config;
  const int P = a.num_prefix_layers, G = a.num_gated_layers;
  ASSERT_GE(G, 3);
  // Each layer 1 ms a decoded token, nothing else: a step at u units costs P + u ms.
  Costs k;
  k.layer_decode = 1;
  const LatencyModel lm(UnitShape{double(P), 1}, k);
  const auto pixels = test::npy_f32(dir + "/pixel_values.npy");
  const std::vector<float> features = m->encode_image(pixels.data(), Precision::F32);
  const std::vector<float> embeds = m->merge_embeddings(test::npy_i64(dir + "/input_ids.npy"), &features);
  const int64_t T = int64_t(embeds.size()) / m->decoder().hidden();
  const int max_new = 4;  // after the first token: 3 decode steps
  // With `left` ms to go, the largest u with 3 (P + u) <= left keeps running.
  for (int keep = 0; keep <= G; ++keep) {
    SCOPED_TRACE(keep);
    Session s(*m, T + 1 + max_new, Precision::F32);
    std::vector<float> logits;
    const PlanReport rep = s.prefill(embeds.data(), T, PlanRequest{}, logits);
    const double left = 3.0 * (P + keep) + 1.5;  // the test's own run time eats into the 1.5 ms slack
    const double deadline = 1000;
    DeadlineControl c(lm, *m, deadline, DeadlineControl::Clock::now() - std::chrono::microseconds(int64_t((deadline - left) * 1000)),
                      T + 1, max_new, G);
    c.before_step(s, rep, 1);
    EXPECT_EQ(c.dropped_layers(), G - keep);
    std::vector<std::pair<float, int>> by_logit;  // the gated layers still running have the highest logits
    for (int g = 0; g < G; ++g) by_logit.push_back({rep.scheduler_logits[size_t(g)], P + g});
    std::sort(by_logit.rbegin(), by_logit.rend());
    for (int i = 0; i < G; ++i) EXPECT_EQ(s.plan().runs(by_logit[size_t(i)].second), i < keep) << i;
    EXPECT_FALSE(c.late(1));  // the narrowest plan (P ms a step) still makes the next token
  }
}

TEST(DeadlineControl, TheNextTokenIsLateOnlyWhenTheNarrowestPlanMissesIt) {
  const std::string dir = test::fixture("adallava_tiny_L");
  auto m = LlavaModel::load(dir);
  const int P = m->adaptive()->config.num_prefix_layers;
  Costs k;
  k.layer_decode = 1;
  const LatencyModel lm(UnitShape{double(P), 1}, k);
  const auto now = DeadlineControl::Clock::now();
  // P ms a step at the narrowest plan: late once less than that is left.
  EXPECT_TRUE(DeadlineControl(lm, *m, 100, now - std::chrono::milliseconds(100 - P + 1), 10, 8, 0).late(1));
  EXPECT_FALSE(DeadlineControl(lm, *m, 100, now - std::chrono::milliseconds(100 - P - 5), 10, 8, 0).late(1));
}

TEST(DeadlineControl, AnEncodeThatRanLateLowersTheBudgetBeforeThePrefill) {
  const std::string dir = test::fixture("adallava_tiny_L");
  auto m = LlavaModel::load(dir);
  const AdaConfig& a = m->adaptive()->config;
  const int P = a.num_prefix_layers, G = a.num_gated_layers;
  // 1 ms per layer per prompt row, nothing else: a prompt of 10 rows costs 10 (P + u) ms.
  Costs k;
  k.layer_prefill_row = 1;
  const LatencyModel lm(UnitShape{double(P), 1}, k);
  const int64_t rows = 10;
  for (int fits = 0; fits <= G; ++fits) {
    SCOPED_TRACE(fits);
    const double left = double(rows) * (P + fits) + 5;  // the test's own run time eats into the 5 ms slack
    const double deadline = 1000;
    DeadlineControl c(lm, *m, deadline, DeadlineControl::Clock::now() - std::chrono::microseconds(int64_t((deadline - left) * 1000)),
                      rows, 1, G);
    PlanRequest plan;
    c.before_prefill(plan, rows);
    EXPECT_EQ(c.dropped_before_prefill(), G - fits);
    EXPECT_EQ(budget_units(plan.budget, a), fits);
  }
  // On time: the plan is left alone.
  DeadlineControl on_time(lm, *m, 1000, DeadlineControl::Clock::now(), rows, 1, G);
  PlanRequest plan;
  plan.budget = 0.5;
  on_time.before_prefill(plan, rows);
  EXPECT_EQ(plan.budget, 0.5);
  EXPECT_EQ(on_time.dropped_before_prefill(), 0);

  // Planned for 40 rows with room for 2 gated layers; token selection left 10: all of them fit.
  const double deadline = 40.0 * (P + 2) + 5;
  DeadlineControl fewer(lm, *m, deadline, DeadlineControl::Clock::now(), 40, 1, 2);
  plan.budget = budget_of_units(2, a);
  fewer.before_prefill(plan, rows);
  EXPECT_EQ(budget_units(plan.budget, a), G);
  EXPECT_EQ(fewer.prefill_units(), G);
  EXPECT_EQ(fewer.dropped_before_prefill(), 0);
}

}  // namespace
}  // namespace adallava
