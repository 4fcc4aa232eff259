// AdamW, the cosine schedule and clipping against their defining properties.
#include "train/optimizer.h"

#include <gtest/gtest.h>

#include <cmath>

namespace adallava::train {
namespace {

TEST(AdamW, ConstantGradientMovesByTheLearningRateEachStep) {
  // With a constant gradient the bias-corrected moments are g and g², so each step moves a
  // parameter by lr·g/(|g| + eps) after decaying it by (1 − lr·wd).
  AdamW opt({0.9, 0.999, 1e-8, 0.1});
  std::map<std::string, std::vector<float>> p = {{"w", {1.f, -2.f, 0.5f}}}, g = {{"w", {0.3f, -4.f, 0.f}}};
  std::vector<double> want = {1.0, -2.0, 0.5};
  const double lr = 0.01;
  for (int s = 0; s < 5; ++s) {
    opt.step(p, g, lr);
    for (size_t i = 0; i < want.size(); ++i) {
      const double gi = g["w"][i];
      want[i] = want[i] * (1 - lr * 0.1) - lr * gi / (std::abs(gi) + 1e-8);
      EXPECT_NEAR(p["w"][i], want[i], 1e-5) << "step " << s << " element " << i;
    }
  }
  EXPECT_EQ(opt.steps(), 5);
  std::map<std::string, std::vector<float>> untouched = {{"frozen", {1.f}}};
  opt.step(untouched, g, lr);  // no gradient for it: left alone
  EXPECT_EQ(untouched["frozen"][0], 1.f);
}

TEST(AdamW, PerNameScaleSetsEachParametersLearningRate) {
  // The same constant gradient on two parameters, one at three times the learning rate: each
  // moves by its own lr per step (the step count and bias correction are shared).
  AdamW opt;
  std::map<std::string, std::vector<float>> p = {{"a", {0.f}}, {"scheduler.b", {0.f}}}, g = {{"a", {1.f}}, {"scheduler.b", {1.f}}};
  const auto scale = [](const std::string& name) { return name == "scheduler.b" ? 3.0 : 1.0; };
  for (int s = 0; s < 4; ++s) opt.step(p, g, 0.01, scale);
  EXPECT_NEAR(p["a"][0], -0.04, 1e-6);
  EXPECT_NEAR(p["scheduler.b"][0], -0.12, 1e-6);
  EXPECT_EQ(opt.steps(), 4);
}

TEST(Schedule, WarmupThenHalfCosineToZero) {
  EXPECT_DOUBLE_EQ(cosine_lr(1.0, 0, 10, 110), 0.0);
  EXPECT_DOUBLE_EQ(cosine_lr(1.0, 5, 10, 110), 0.5);
  EXPECT_DOUBLE_EQ(cosine_lr(1.0, 10, 10, 110), 1.0);
  EXPECT_NEAR(cosine_lr(1.0, 60, 10, 110), 0.5, 1e-12);
  EXPECT_NEAR(cosine_lr(1.0, 110, 10, 110), 0.0, 1e-12);
  EXPECT_DOUBLE_EQ(cosine_lr(2.0, 0, 0, 10), 2.0);
}

TEST(Clip, ScalesToTheMaximumGlobalNorm) {
  std::map<std::string, std::vector<float>> g = {{"a", {3.f}}, {"b", {4.f, 0.f}}};
  EXPECT_NEAR(clip_grad_norm(g, 1.0), 5.0, 1e-9);
  EXPECT_NEAR(std::hypot(g["a"][0], g["b"][0]), 1.0, 1e-6);
  EXPECT_NEAR(clip_grad_norm(g, 10.0), 1.0, 1e-6);  // under the limit: unchanged
  EXPECT_NEAR(g["a"][0], 0.6f, 1e-6);
}

}  // namespace
}  // namespace adallava::train
