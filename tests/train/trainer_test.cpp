// The training loop drives the loss down: the tiny AdaLLaVA fixture, trained on its own
// training sample (re-encoded with the fixture's toy tokenizer) under random budgets and plans.
#include "train/trainer.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "test_util.h"

namespace adallava::train {
namespace {

TEST(Trainer, LossFallsOnAFixedSampleUnderRandomBudgets) {
  const std::string dir = test::fixture("adallava_tiny_L");
  auto m = LlavaModel::load(dir);
  Params p = Params::from_model(*m);
  Example ex{{test::npy_i64(dir + "/train_input_ids.npy"), test::npy_i64(dir + "/train_labels.npy"), false},
             test::npy_f32(dir + "/pixel_values.npy")};
  TrainOptions o;
  o.steps = 20;
  o.lr = 3e-3;
  o.warmup = 2;
  o.seed = 7;
  std::vector<double> losses;
  train(*m, p, {ex}, o, [&](const StepLog& l) { losses.push_back(l.loss); });
  ASSERT_EQ(losses.size(), 20u);
  // Threshold: the mean of the last 5 steps' losses below half the first step's.
  double tail = 0;
  for (size_t i = 15; i < 20; ++i) tail += losses[i] / 5;
  EXPECT_LT(tail, 0.5 * losses[0]) << "first " << losses[0] << ", last five mean " << tail;
}

TEST(Trainer, SchedulerOnlyLeavesTheLanguageModelAlone) {
  const std::string dir = test::fixture("adallava_tiny_H");
  auto m = LlavaModel::load(dir);
  Params p = Params::from_model(*m);
  const Params before = p;
  Example ex{{test::npy_i64(dir + "/train_input_ids.npy"), test::npy_i64(dir + "/train_labels.npy"), false},
             test::npy_f32(dir + "/pixel_values.npy")};
  TrainOptions o;
  o.steps = 2;
  o.lr = 1e-2;
  o.train = "scheduler";
  train(*m, p, {ex}, o);
  for (const auto& [name, v] : p.values) {
    if (name.rfind("scheduler.", 0) == 0) continue;
    EXPECT_EQ(v, before.values.at(name)) << name;
  }
  EXPECT_NE(p.values.at("scheduler.mlp_head.weight"), before.values.at("scheduler.mlp_head.weight"));
}

}  // namespace
}  // namespace adallava::train
