// Training-time plan sampling replayed with the Gumbel noise the authors' training step drew:
// the same hard sample and the same straight-through values (up to an ulp), L and H.
#include "train/plan_sampling.h"

#include <gtest/gtest.h>

#include "adaptive/budget.h"
#include "model/llava.h"
#include "test_util.h"

namespace adallava::train {
namespace {

TEST(PlanSampling, ReplaysTheAuthorsTrainingDraws) {
  auto dirs = test::fixtures_of_type("ada_llava_llama");
  ASSERT_FALSE(dirs.empty());
  for (const std::string& dir : dirs) {
    SCOPED_TRACE(dir);
    auto m = LlavaModel::load(dir);
    const AdaConfig& a = m->adaptive()->config;
    const TextConfig& t = m->config().text;
    const auto logits = test::npy_f32(dir + "/train_scheduler_logits.npy");
    const auto noise = test::npy_f32(dir + "/train_gumbel_noise.npy");
    const auto want = test::npy_f32(dir + "/train_plan.npy");  // [N, 2, n_heads]
    const auto want_hard = test::npy_f32(dir + "/train_plan_hard.npy");
    const double budget = read_npy(dir + "/train_budget.npy").to_f64()[0];
    const int units = budget_units(budget, a);  // k/T budgets: exact in every dtype
    size_t used = 0;
    GumbelSource replay = [&](float* g, int64_t n) {
      ASSERT_LE(used + size_t(n), noise.size());
      std::copy(noise.begin() + long(used), noise.begin() + long(used + size_t(n)), g);
      used += size_t(n);
    };
    const float tau = 5.f;
    const SampledPlan s = a.type == SchedulerType::L ? sample_plan_L(logits, units, tau, replay)
                                                     : sample_plan_H(logits, units, a.num_gated_layers, t.num_heads,
                                                                     a.scheduler_rank, tau, replay);
    EXPECT_EQ(used, noise.size()) << "every recorded draw consumed, in order";
    const size_t row = 2 * size_t(t.num_heads), P = size_t(a.num_prefix_layers);
    for (int g = 0; g < a.num_gated_layers; ++g)
      for (size_t j = 0; j < row; ++j) {
        const size_t at = (P + size_t(g)) * row + j;
        // L: one value per layer, broadcast over heads and groups; H: one per head / group.
        const size_t mine = a.type == SchedulerType::L ? size_t(g) : size_t(g) * row + j;
        EXPECT_EQ(s.hard[mine], want_hard[at]) << "gated layer " << g << " entry " << j;
        EXPECT_NEAR(s.plan[mine], want[at], 1e-6) << "gated layer " << g << " entry " << j;
      }
  }
}

}  // namespace
}  // namespace adallava::train
