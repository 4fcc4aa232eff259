// Training-time plan sampling replayed with the Gumbel noise the authors' training step drew:
// the same hard sample and the same straight-through values (up to an ulp), L and H.
#include "train/plan_sampling.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "adaptive/budget.h"
#include "llava/llava.h"
#include "test_util.h"
#include "train/train_test_util.h"

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
    const GumbelSource replay = test::recorded_noise(noise, &used);
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

// The straight-through gradient is the gradient of the plan with the hard picks, the masks and
// the detached soft values frozen at the sample: rebuild that function in double and
// differentiate it numerically.
using Vec = std::vector<double>;

Vec soft_of(const double* z, const float* g, const float* base_soft, int64_t n, double tau) {
  Vec y(static_cast<size_t>(n), 0.0);
  double mx = -1e300, sum = 0;
  for (int64_t i = 0; i < n; ++i)
    if (base_soft[i] != 0.f) mx = std::max(mx, (z[i] + g[i]) / tau);
  for (int64_t i = 0; i < n; ++i)
    if (base_soft[i] != 0.f) sum += y[size_t(i)] = std::exp((z[i] + g[i]) / tau - mx);
  for (auto& v : y) v /= sum;
  return y;
}

size_t argmax_of(const std::vector<float>& v) {
  return size_t(std::max_element(v.begin(), v.end()) - v.begin());
}

Vec frozen_plan(const SampledPlan& s, const Vec& z, const std::vector<float>& noise, bool heads, int n_gated,
                int n_heads, double tau) {
  const int64_t n = int64_t(z.size()), per = 2 * int64_t(n_heads);
  Vec plan(z.size(), 0.0);
  size_t at = 0;
  for (const UnitDraw& d : s.draws) {
    const Vec y = soft_of(z.data(), noise.data() + at, d.soft.data(), n, tau);
    at += size_t(n);
    const size_t pick = argmax_of(d.soft);
    if (!heads) {
      for (int64_t i = 0; i < n; ++i)
        plan[size_t(i)] += (double(i == int64_t(pick)) - d.soft[size_t(i)]) + y[size_t(i)];
      continue;
    }
    Vec hot(size_t(n_gated), 0.0), sub(size_t(per), 0.0);
    for (int64_t i = 0; i < n; ++i)
      hot[size_t(i / per)] += (double(i == int64_t(pick)) - d.soft[size_t(i)]) + y[size_t(i)];
    for (int l = 0; l < n_gated; ++l)
      for (int64_t j = 0; j < per; ++j) sub[size_t(j)] += z[size_t(l * per + j)] * hot[size_t(l)];
    Vec m(static_cast<size_t>(per));
    for (int kind = 0; kind < 2; ++kind) {
      const int64_t o = int64_t(kind) * n_heads;
      const Vec ys = soft_of(sub.data() + o, noise.data() + at, d.sub_soft.data() + o, n_heads, tau);
      at += size_t(n_heads);
      for (int64_t i = 0; i < n_heads; ++i)
        m[size_t(o + i)] = (std::round(d.m[size_t(o + i)]) - d.sub_soft[size_t(o + i)]) + ys[size_t(i)];
    }
    for (int l = 0; l < n_gated; ++l)
      for (int64_t j = 0; j < per; ++j) plan[size_t(l * per + j)] += hot[size_t(l)] * m[size_t(j)];
  }
  return plan;
}

TEST(PlanSampling, ScaledGumbelScalesOneStreamAndZeroTakesTheTopPlan) {
  std::mt19937_64 a(7), b(7);
  const GumbelSource unit = scaled_gumbel(a, 1.f), third = scaled_gumbel(b, 1.f / 3);
  std::vector<float> g1(1000), g3(1000);
  unit(g1.data(), 1000);
  third(g3.data(), 1000);
  double mean = 0;
  for (size_t i = 0; i < g1.size(); ++i) {
    EXPECT_FLOAT_EQ(g3[i], g1[i] / 3);
    mean += g1[i] / 1000;
  }
  EXPECT_NEAR(mean, 0.5772, 0.1);  // the Euler–Mascheroni constant: Gumbel(0, 1)'s mean

  std::mt19937_64 c(1);
  const std::vector<float> logits = {0.1f, 0.9f, -0.4f, 0.3f, 0.2f};
  for (int draw = 0; draw < 20; ++draw) {
    const SampledPlan s = sample_plan_L(logits, 2, 5.f, scaled_gumbel(c, 0.f));
    EXPECT_EQ(s.hard, (std::vector<float>{0, 1, 0, 1, 0}));
  }
  // With the authors' scale the plan varies: a draw from softmax(logits), not the top two.
  int top = 0;
  for (int draw = 0; draw < 200; ++draw)
    top += sample_plan_L(logits, 2, 5.f, scaled_gumbel(c, 1.f)).hard == std::vector<float>{0, 1, 0, 1, 0};
  EXPECT_LT(top, 100);
}

TEST(PlanSampling, StraightThroughGradientMatchesTheFrozenPlanFunction) {
  for (const std::string& dir : test::fixtures_of_type("ada_llava_llama")) {
    SCOPED_TRACE(dir);
    auto model = LlavaModel::load(dir);
    const AdaConfig& a = model->adaptive()->config;
    const int nh = model->config().text.num_heads;
    const bool heads = a.type == SchedulerType::H;
    const auto logits = test::npy_f32(dir + "/train_scheduler_logits.npy");
    const auto noise = test::npy_f32(dir + "/train_gumbel_noise.npy");
    size_t used = 0;
    const GumbelSource replay = test::recorded_noise(noise, &used);
    const float tau = 5.f;
    const int units = budget_units(read_npy(dir + "/train_budget.npy").to_f64()[0], a);
    const SampledPlan s = heads ? sample_plan_H(logits, units, a.num_gated_layers, nh, a.scheduler_rank, tau, replay)
                                : sample_plan_L(logits, units, tau, replay);
    std::mt19937 rng(3);
    std::uniform_real_distribution<double> u(-1, 1);
    std::vector<float> dplan(s.plan.size());
    for (auto& g : dplan) g = float(u(rng));
    const std::vector<float> got = heads ? sample_plan_backward_H(s, logits, dplan, a.num_gated_layers, nh, tau)
                                         : sample_plan_backward_L(s, dplan, tau);
    Vec z(logits.begin(), logits.end());
    auto loss = [&] {
      const Vec p = frozen_plan(s, z, noise, heads, a.num_gated_layers, nh, tau);
      double l = 0;
      for (size_t i = 0; i < p.size(); ++i) l += p[i] * dplan[i];
      return l;
    };
    for (size_t i = 0; i < z.size(); ++i) {
      const double keep = z[i], h = 1e-5;
      z[i] = keep + h;
      const double up = loss();
      z[i] = keep - h;
      const double down = loss();
      z[i] = keep;
      EXPECT_NEAR(got[i], (up - down) / (2 * h), 1e-5) << "logit " << i;
    }
  }
}

}  // namespace
}  // namespace adallava::train
