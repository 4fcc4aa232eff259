// The training loop drives the loss down: the tiny AdaLLaVA fixture, trained on its own
// training sample (re-encoded with the fixture's toy tokenizer) under random budgets and plans.
#include "train/trainer.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "tensor/error.h"
#include "test_util.h"
#include "train/checkpoint.h"

namespace adallava::train {
namespace {

// The fixture's own training sample: its ids, labels and image.
Example fixture_example(const std::string& dir) {
  return {{test::npy_i64(dir + "/train_input_ids.npy"), test::npy_i64(dir + "/train_labels.npy"), false},
          test::npy_f32(dir + "/pixel_values.npy")};
}

TEST(Trainer, LossFallsOnAFixedSampleUnderRandomBudgets) {
  const std::string dir = test::fixture("adallava_tiny_L");
  auto m = LlavaModel::load(dir);
  Params p = Params::from_model(*m);
  const Example ex = fixture_example(dir);
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
  const Example ex = fixture_example(dir);
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

TEST(Trainer, GatedTrainsTheSchedulerAndTheLayersAfterThePrefixOnly) {
  const std::string dir = test::fixture("adallava_tiny_L");
  auto m = LlavaModel::load(dir);
  const int prefix = m->adaptive()->config.num_prefix_layers;
  ASSERT_GT(prefix, 0);
  ASSERT_LT(prefix, m->config().text.num_layers);
  Params p = Params::from_model(*m);
  const Params before = p;
  const Example ex = fixture_example(dir);
  TrainOptions o;
  o.steps = 2;
  o.lr = 1e-2;
  o.train = "gated";
  train(*m, p, {ex}, o);
  int changed_gated_layers = 0;
  for (const auto& [name, v] : p.values) {
    const bool is_layer = name.rfind("model.layers.", 0) == 0;
    const int layer = is_layer ? std::atoi(name.c_str() + 13) : -1;
    if (name.rfind("scheduler.", 0) == 0) continue;
    if (layer >= prefix) {
      changed_gated_layers += v != before.values.at(name);
      continue;
    }
    EXPECT_EQ(v, before.values.at(name)) << name;
  }
  EXPECT_GT(changed_gated_layers, 0);
  EXPECT_NE(p.values.at("scheduler.mlp_head.weight"), before.values.at("scheduler.mlp_head.weight"));
}

// On a plain LLaVA, gated means the layers after the first half (those AdaLLaVA would gate).
TEST(Trainer, GatedOnAPlainLlavaTrainsTheSecondHalfOfTheLayersOnly) {
  const std::string dir = test::fixture("llava_tiny_f32");
  auto m = LlavaModel::load(dir);
  const std::vector<int64_t> ids = test::npy_i64(dir + "/input_ids.npy");
  std::vector<int64_t> labels = ids;
  for (int64_t& l : labels)
    if (l == m->config().image_token_id) l = kIgnoreIndex;
  const Example ex{{ids, labels, false}, test::npy_f32(dir + "/pixel_values.npy")};
  Params p = Params::from_model(*m);
  const Params before = p;
  TrainOptions o;
  o.steps = 2;
  o.lr = 1e-2;
  o.train = "gated";
  train(*m, p, {ex}, o);
  const int half = m->config().text.num_layers / 2;
  int changed = 0;
  for (const auto& [name, v] : p.values) {
    const bool upper = name.rfind("model.layers.", 0) == 0 && std::atoi(name.c_str() + 13) >= half;
    if (upper)
      changed += v != before.values.at(name);
    else
      EXPECT_EQ(v, before.values.at(name)) << name;
  }
  EXPECT_GT(changed, 0);
}

// Stochastic depth on a plain LLaVA: a layer skipped by every sample is the identity and gets
// no gradient, so it stays as it was while the other layers train; an AdaLLaVA checkpoint
// refuses it (its scheduler decides what runs).
TEST(Trainer, DroppedLayersAreSkippedAndLeftUntrained) {
  const std::string dir = test::fixture("llava_tiny_f32");
  auto m = LlavaModel::load(dir);
  const std::vector<int64_t> ids = test::npy_i64(dir + "/input_ids.npy");
  std::vector<int64_t> labels = ids;
  for (int64_t& l : labels)
    if (l == m->config().image_token_id) l = kIgnoreIndex;
  const Example ex{{ids, labels, false}, test::npy_f32(dir + "/pixel_values.npy")};
  Params p = Params::from_model(*m);
  const Params before = p;
  TrainOptions o;
  o.steps = 2;
  o.lr = 1e-2;
  o.drop_layers = {1};
  o.drop_rate = 1;
  train(*m, p, {ex}, o);
  for (const auto& [name, v] : p.values) {
    if (name.rfind("model.layers.1.", 0) == 0) {
      EXPECT_EQ(v, before.values.at(name)) << name;
    } else if (name.rfind("model.layers.", 0) == 0 && name.find("_proj") != std::string::npos) {
      EXPECT_NE(v, before.values.at(name)) << name;
    }
  }
  o.drop_layers = {9};
  EXPECT_THROW(train(*m, p, {ex}, o), Error);
  auto ada = LlavaModel::load(test::fixture("adallava_tiny_L"));
  Params ap = Params::from_model(*ada);
  o.drop_layers = {1};
  EXPECT_THROW(train(*ada, ap, {fixture_example(test::fixture("adallava_tiny_L"))}, o), Error);
}

// N steps in one go give the same checkpoint bytes as N/2, save (weights + state), resume, N/2.
TEST(Trainer, ResumeContinuesExactly) {
  const std::string dir = test::fixture("adallava_tiny_H");
  auto m = LlavaModel::load(dir);
  const auto pixels = test::npy_f32(dir + "/pixel_values.npy");
  Example a{{test::npy_i64(dir + "/train_input_ids.npy"), test::npy_i64(dir + "/train_labels.npy"), false}, pixels};
  Example b = a;
  b.tokens.labels.assign(b.tokens.labels.size(), kIgnoreIndex);  // a second example: different order matters
  b.tokens.labels[b.tokens.labels.size() - 2] = a.tokens.labels[a.tokens.labels.size() - 2];
  const std::vector<Example> data = {a, b, a};
  TrainOptions o;
  o.steps = 6;
  o.lr = 1e-3;
  o.warmup = 2;
  o.seed = 3;
  o.adam.weight_decay = 0.01;

  test::TempDir once, half;
  Params p1 = Params::from_model(*m);
  train(*m, p1, data, o);
  save_checkpoint(once.path, *m, p1);

  Params p2 = Params::from_model(*m);
  TrainState st;
  TrainOptions first = o;
  first.stop_after = 3;
  train(*m, p2, data, first, {}, &st);
  EXPECT_EQ(st.step, 3);
  save_checkpoint(half.path, *m, p2);
  save_train_state(half.path, st);

  auto reloaded = LlavaModel::load(half.path);
  Params p3 = Params::from_model(*reloaded);
  TrainState resumed = load_train_state(half.path);
  train(*reloaded, p3, data, o, {}, &resumed);
  EXPECT_EQ(resumed.step, 6);
  test::TempDir twice;
  save_checkpoint(twice.path, *m, p3);
  EXPECT_TRUE(test::read_file(once.file("model.safetensors")) == test::read_file(twice.file("model.safetensors")))
      << "resumed run differs from the uninterrupted one";
  EXPECT_THROW(load_train_state(once.path), Error);  // no state saved there
}

}  // namespace
}  // namespace adallava::train
