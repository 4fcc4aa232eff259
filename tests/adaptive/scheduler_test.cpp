// Plan selection rules of the released code: greedy top-k for L, layer-then-heads for H,
// argmax over the dtype-rounded softmax with the first index winning ties.
#include "adaptive/scheduler.h"

#include <gtest/gtest.h>

#include <numeric>

namespace adallava {
namespace {

TEST(Scheduler, LayersAreTheTopUnitsInPickOrderFirstIndexOnTies) {
  EXPECT_EQ(select_layers({0.1f, 0.9f, 0.5f, 0.7f}, 2, DType::F32), (std::vector<int>{1, 3}));
  EXPECT_EQ(select_layers({0.5f, 0.9f, 0.5f, 0.9f}, 3, DType::F32), (std::vector<int>{1, 3, 0}));
  EXPECT_TRUE(select_layers({1.f, 2.f}, 0, DType::F32).empty());
  EXPECT_EQ(select_layers({1.f, 2.f}, 5, DType::F32).size(), 2u);
  // Logits that differ by less than fp16 resolution tie in an fp16 model: the first wins.
  EXPECT_EQ(select_layers({1.0f, 1.0001f}, 1, DType::F32), (std::vector<int>{1}));
  EXPECT_EQ(select_layers({1.0f, 1.0001f}, 1, DType::F16), (std::vector<int>{0}));
}

TEST(Scheduler, HeadsPickALayerThenItsBestRankHeadsAndGroups) {
  const int n_gated = 2, n_heads = 4, rank = 2;
  std::vector<float> logits(size_t(n_gated * 2 * n_heads), 0.f);
  auto at = [&](int layer, int kind, int h) -> float& { return logits[size_t((layer * 2 + kind) * n_heads + h)]; };
  at(1, 1, 3) = 5.f;  // the best entry overall is an MLP group of gated layer 1
  at(1, 0, 2) = 1.f, at(1, 0, 0) = 0.5f;
  at(1, 1, 1) = 0.2f;
  at(0, 0, 1) = 3.f;  // second best: a head of layer 0
  std::vector<float> m = select_heads(logits, 1, n_gated, n_heads, rank, DType::F32);
  std::vector<float> want(logits.size(), 0.f);
  for (auto [k, h] : {std::pair{0, 2}, {0, 0}, {1, 3}, {1, 1}}) want[size_t((1 * 2 + k) * n_heads + h)] = 1.f;
  EXPECT_EQ(m, want);
  // The second unit goes to layer 0 (best unpicked entry); ties among its zeros: lowest index.
  m = select_heads(logits, 2, n_gated, n_heads, rank, DType::F32);
  for (auto [k, h] : {std::pair{0, 1}, {0, 0}, {1, 0}, {1, 1}}) want[size_t((0 * 2 + k) * n_heads + h)] = 1.f;
  EXPECT_EQ(m, want);
  // Every unit adds rank heads and rank groups; more units than exist fill everything.
  m = select_heads(logits, 99, n_gated, n_heads, rank, DType::F32);
  EXPECT_EQ(std::accumulate(m.begin(), m.end(), 0.f), float(logits.size()));
}

TEST(Scheduler, FullPlanKeepsThePrefixAndCountsUnits) {
  AdaConfig a;
  a.type = SchedulerType::H;
  a.num_prefix_layers = 2, a.num_gated_layers = 2, a.scheduler_rank = 2, a.units_per_layer = 2;
  a.prefix_units = 4, a.total_units = 8;
  std::vector<float> logits(16);
  std::iota(logits.begin(), logits.end(), 0.f);
  const ExecutionPlan p = plan_from_scheduler(logits, 3, a, 4, 4);
  EXPECT_TRUE(p.is_full(0) && p.is_full(1));
  EXPECT_EQ(p.layer(2).heads.size() + p.layer(3).heads.size(), 3u * 2u);
  EXPECT_EQ(p.layer(3).heads, (std::vector<int>{0, 1, 2, 3}));  // the best logits are in gated layer 1
}

}  // namespace
}  // namespace adallava
