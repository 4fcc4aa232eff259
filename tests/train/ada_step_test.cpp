// One training step against the authors' recorded step (forward in train mode, backward), with
// their budget and Gumbel noise replayed: the same latency position, plan, logits (1e-4), loss
// (1e-5) and gradients (1e-4 relative to each tensor's largest entry) for every recorded param.
#include "train/ada_step.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "adaptive/budget.h"
#include "test_util.h"
#include "train/train_test_util.h"

namespace adallava::train {
namespace {

TEST(AdaTrainStep, MatchesTheAuthorsTrainingStep) {
  auto dirs = test::fixtures_of_type("ada_llava_llama");
  ASSERT_FALSE(dirs.empty());
  for (const std::string& dir : dirs) {
    SCOPED_TRACE(dir);
    auto m = LlavaModel::load(dir);
    const Params p = Params::from_model(*m);
    const auto pixels = test::npy_f32(dir + "/pixel_values.npy");
    Sample s{test::npy_i64(dir + "/train_input_ids.npy"), test::npy_i64(dir + "/train_labels.npy"), pixels.data(), {}};
    const auto noise = test::npy_f32(dir + "/train_gumbel_noise.npy");
    size_t used = 0;
    const GumbelSource replay = test::recorded_noise(noise, &used);
    const int units = budget_units(read_npy(dir + "/train_budget.npy").to_f64()[0], m->adaptive()->config);
    const StepResult r = ada_train_step(*m, p, s, units, 5.f, replay);

    const auto merged_labels = test::npy_i64(dir + "/train_labels_merged.npy");
    const auto merged_ids = test::npy_i64(dir + "/train_input_ids_merged.npy");  // −1 = latency slot
    EXPECT_EQ(r.latency_position, std::find(merged_ids.begin(), merged_ids.end(), -1) - merged_ids.begin());
    EXPECT_EQ(used, noise.size());
    const auto hard = test::npy_f32(dir + "/train_plan_hard.npy");  // [N, 2, n_heads]
    const AdaConfig& a = m->adaptive()->config;
    const size_t row = 2 * size_t(m->config().text.num_heads);
    for (int g = 0; g < a.num_gated_layers; ++g)
      for (size_t j = 0; j < row; ++j)
        EXPECT_EQ(r.plan.hard[a.type == SchedulerType::L ? size_t(g) : size_t(g) * row + j],
                  hard[(size_t(a.num_prefix_layers + g)) * row + j]);
    EXPECT_EQ(r.logits.size(), merged_labels.size() * size_t(m->config().text.vocab_size));
    EXPECT_TRUE(
        test::all_close(r.scheduler_input, test::npy_f32(dir + "/train_scheduler_input.npy"), 5e-5, "scheduler input"));
    EXPECT_TRUE(test::all_close(r.scheduler_logits, test::npy_f32(dir + "/train_scheduler_logits.npy"), 1e-5,
                                "scheduler logits"));
    EXPECT_TRUE(test::all_close(r.logits, test::npy_f32(dir + "/train_logits.npy"), 1e-4, "logits"));
    EXPECT_NEAR(r.loss, test::npy_f32(dir + "/train_loss.npy")[0], 1e-5);
    for (const auto& f : std::filesystem::directory_iterator(dir)) {
      const std::string file = f.path().filename().string();
      if (file.rfind("train_grad__", 0) != 0) continue;
      const std::string name = file.substr(12, file.size() - 12 - 4);
      SCOPED_TRACE(name);
      const auto want = test::npy_f32(f.path().string());
      double scale = 0;
      for (float v : want) scale = std::max(scale, double(std::abs(v)));
      ASSERT_TRUE(r.grads.count(name));
      EXPECT_TRUE(test::all_close(r.grads.at(name), want, 1e-4 * std::max(scale, 1e-3), "gradient " + name));
    }
  }
}

// With only the upper layers training (a plain LLaVA under --train gated) the backward pass
// stops below them: their gradients are those of the full backward pass, bit for bit.
TEST(AdaTrainStep, BackwardStopsBelowTheLowestTrainedLayerWithTheSameGradients) {
  const std::string dir = test::fixture("llava_tiny_f32");
  auto m = LlavaModel::load(dir);
  const Params p = Params::from_model(*m);
  const auto pixels = test::npy_f32(dir + "/pixel_values.npy");
  std::vector<int64_t> ids = test::npy_i64(dir + "/input_ids.npy"), labels = ids;
  for (int64_t& l : labels)
    if (l == m->config().image_token_id) l = kIgnoreIndex;
  const Sample s{ids, labels, pixels.data(), {}};
  const GumbelSource none = [](float*, int64_t) { FAIL() << "a plain LLaVA draws no plan"; };
  Grads all = p.zeros_like(), upper;
  const int half = m->config().text.num_layers / 2;
  for (const auto& [name, g] : all)
    if (name.rfind("model.layers.", 0) == 0 && std::atoi(name.c_str() + 13) >= half) upper[name] = g;
  ASSERT_FALSE(upper.empty());
  const StepResult full = ada_train_step(*m, p, s, 0, 5.f, none, all, 1.f);
  const StepResult part = ada_train_step(*m, p, s, 0, 5.f, none, upper, 1.f);
  EXPECT_EQ(full.loss, part.loss);
  for (const auto& [name, g] : upper) EXPECT_EQ(g, all.at(name)) << name;
  EXPECT_GT(full.times.llm_backward + full.times.vision_backward, 0);
}

// --train scheduler-exact on AdaLLaVA-L: the loss is the expectation, under p(S) ∝ exp(Σ_{j∈S}
// logit_j), of the losses that the sampled-plan step gives for each plan S of the unit count, and
// the scheduler head's gradient is that expectation's (central differences on its bias).
TEST(AdaTrainStep, ExactPlanGradientIsTheExpectedLossOverEveryPlan) {
  const std::string dir = test::fixture("adallava_tiny_L");
  auto m = LlavaModel::load(dir);
  const Params p = Params::from_model(*m);
  const AdaConfig& a = m->adaptive()->config;
  ASSERT_EQ(a.type, SchedulerType::L);
  const int n = a.num_gated_layers, units = 2;
  ASSERT_GE(n, 3);  // several plans to weigh
  const auto pixels = test::npy_f32(dir + "/pixel_values.npy");
  Sample s{test::npy_i64(dir + "/train_input_ids.npy"), test::npy_i64(dir + "/train_labels.npy"), pixels.data(), {}};
  const GumbelSource none = [](float*, int64_t) { FAIL() << "the exact gradient samples no plan"; };
  const std::string w = "scheduler.mlp_head.weight", b = "scheduler.mlp_head.bias";
  const auto exact = [&](const Params& q, Grads& g) {
    Sample e = s;
    e.exact_plan_gradient = true;
    return ada_train_step(*m, q, e, units, 5.f, none, g, 1.f);
  };
  Grads g{{w, std::vector<float>(p.values.at(w).size(), 0.f)}, {b, std::vector<float>(size_t(n), 0.f)}};
  const StepResult r = exact(p, g);
  ASSERT_EQ(r.scheduler_logits.size(), size_t(n));

  // Each plan's loss from the ordinary step, the plan forced through its Gumbel draws.
  double z = 0, expected = 0;
  std::vector<double> weight, loss;
  for (uint32_t mask = 0; mask < (1u << n); ++mask) {
    if (__builtin_popcount(mask) != units) continue;
    const GumbelSource force = [&](float* x, int64_t k) {
      for (int64_t j = 0; j < k; ++j) x[j] = (mask >> j & 1u) ? 1e4f : 0.f;
    };
    double score = 0;
    for (int j = 0; j < n; ++j) score += (mask >> j & 1u) ? r.scheduler_logits[size_t(j)] : 0;
    const StepResult one = ada_train_step(*m, p, s, units, 5.f, force);
    for (int j = 0; j < n; ++j) ASSERT_EQ(one.plan.hard[size_t(j)], float(mask >> j & 1u));
    weight.push_back(std::exp(score)), loss.push_back(one.loss), z += weight.back();
  }
  ASSERT_EQ(weight.size(), 6u);
  for (size_t i = 0; i < weight.size(); ++i) expected += weight[i] / z * loss[i];
  EXPECT_NEAR(r.loss, expected, 1e-5);
  EXPECT_GT(*std::max_element(loss.begin(), loss.end()) - *std::min_element(loss.begin(), loss.end()), 1e-4);

  double scale = 0;
  for (float v : g.at(b)) scale = std::max(scale, double(std::abs(v)));
  ASSERT_GT(scale, 1e-6);
  for (int j = 0; j < n; ++j) {
    const float h = 1e-2f;
    Params up = p, down = p;
    up.values.at(b)[size_t(j)] += h, down.values.at(b)[size_t(j)] -= h;
    Grads unused;
    const double numeric = (exact(up, unused).loss - exact(down, unused).loss) / (2 * double(h));
    EXPECT_NEAR(g.at(b)[size_t(j)], numeric, 1e-3 * scale + 1e-6) << "bias " << j;
  }
}

// Answers are the runs of supervised targets; one row's argmax off its target makes its answer
// wrong, and the error is the share of wrong answers.
TEST(AnswerError, CountsAnswersWithAMissedToken) {
  const int64_t V = 3, I = kIgnoreIndex;
  // Rows' argmax: 0 1 2 0 1 2.
  const std::vector<float> logits = {5, 0, 0, 0, 5, 0, 0, 0, 5, 5, 0, 0, 0, 5, 0, 0, 0, 5};
  EXPECT_EQ(answer_error(logits.data(), {I, 1, 2, I, 1, 2}, V), 0.0);   // both right
  EXPECT_EQ(answer_error(logits.data(), {I, 1, 0, I, 1, 2}, V), 0.5);   // the first misses a token
  EXPECT_EQ(answer_error(logits.data(), {0, 0, I, I, I, 0}, V), 1.0);   // both miss
  EXPECT_EQ(answer_error(logits.data(), {I, I, I, I, I, I}, V), 0.0);   // no answer
  EXPECT_NEAR(answer_error(logits.data(), {0, I, 2, I, 0, I}, V), 1.0 / 3, 1e-12);  // the third misses
}

// --plan-score answer-error: the same expectation over every plan, of each plan's answer error
// (on the ordinary step's logits, the plan forced) instead of its loss, and the head's gradient
// dE/dlogit_j = Σ_{S∋j} p(S)·(err_S − E). The final answer is relabelled to what one plan
// predicts, so that the plans' errors differ.
TEST(AdaTrainStep, ExactPlanGradientOfTheAnswerError) {
  const std::string dir = test::fixture("adallava_tiny_L");
  auto m = LlavaModel::load(dir);
  const Params p = Params::from_model(*m);
  const int n = m->adaptive()->config.num_gated_layers, units = 2;
  const int64_t V = m->config().text.vocab_size;
  const auto pixels = test::npy_f32(dir + "/pixel_values.npy");
  Sample s{test::npy_i64(dir + "/train_input_ids.npy"), test::npy_i64(dir + "/train_labels.npy"), pixels.data(), {}};
  const auto forced = [&](uint32_t mask) -> GumbelSource {
    return [mask](float* x, int64_t k) {
      for (int64_t j = 0; j < k; ++j) x[j] = (mask >> j & 1u) ? 1e4f : 0.f;
    };
  };
  const auto plan_step = [&](uint32_t mask) { return ada_train_step(*m, p, s, units, 5.f, forced(mask)); };
  // The final answer (the labels after the latency row; merged rows sit `shift` after the
  // sample's there) takes plan 0,1's argmax.
  std::vector<int64_t> merged = test::npy_i64(dir + "/train_labels_merged.npy");
  const int64_t shift = int64_t(merged.size() - s.labels.size());
  const StepResult first = plan_step(0b0011);
  ASSERT_EQ(first.logits.size(), merged.size() * size_t(V));
  for (size_t k = size_t(first.latency_position + 1); k < merged.size(); ++k)
    if (merged[k] != kIgnoreIndex) {
      const float* row = first.logits.data() + (int64_t(k) - 1) * V;
      merged[k] = s.labels[k - size_t(shift)] = std::max_element(row, row + V) - row;
    }
  std::vector<int64_t> targets(merged.size(), kIgnoreIndex);
  for (size_t t = 0; t + 1 < merged.size(); ++t) targets[t] = merged[t + 1];

  Sample e = s;
  e.exact_plan_gradient = true;
  e.plan_score = Sample::PlanScore::AnswerError;
  const GumbelSource none = [](float*, int64_t) { FAIL() << "the exact gradient samples no plan"; };
  const std::string w = "scheduler.mlp_head.weight", b = "scheduler.mlp_head.bias";
  Grads g{{w, std::vector<float>(p.values.at(w).size(), 0.f)}, {b, std::vector<float>(size_t(n), 0.f)}};
  const StepResult r = ada_train_step(*m, p, e, units, 5.f, none, g, 1.f);

  double z = 0, expected = 0;
  std::vector<double> weight, error;
  std::vector<uint32_t> masks;
  for (uint32_t mask = 0; mask < (1u << n); ++mask) {
    if (__builtin_popcount(mask) != units) continue;
    double score = 0;
    for (int j = 0; j < n; ++j) score += (mask >> j & 1u) ? r.scheduler_logits[size_t(j)] : 0;
    error.push_back(answer_error(plan_step(mask).logits.data(), targets, V));
    weight.push_back(std::exp(score)), masks.push_back(mask), z += weight.back();
  }
  ASSERT_EQ(masks[0], 0b0011u);
  EXPECT_LT(error[0], *std::max_element(error.begin(), error.end()));  // the plans' errors differ
  for (size_t i = 0; i < weight.size(); ++i) expected += weight[i] / z * error[i];
  EXPECT_NEAR(r.loss, expected, 1e-9);
  for (int j = 0; j < n; ++j) {
    double want = 0;
    for (size_t i = 0; i < weight.size(); ++i)
      if (masks[i] >> j & 1u) want += weight[i] / z * (error[i] - expected);
    EXPECT_NEAR(g.at(b)[size_t(j)], want, 1e-6) << "bias " << j;
  }
}

}  // namespace
}  // namespace adallava::train
