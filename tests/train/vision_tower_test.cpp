// The training vision tower: every gradient against finite differences in double on a tiny
// random tower; a training step with the tower trained gives the loss, logits and LLM gradients
// of the step with it frozen (the inference tower, itself tested against transformers); and
// on plain LLaVA the whole step's tower gradients agree with finite differences of its loss.
#include "train/vision_tower.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>

#include "adaptive/budget.h"
#include "llava/llava.h"
#include "test_util.h"
#include "train/ada_step.h"
#include "train/train_test_util.h"

namespace adallava::train {
namespace {

using Vec = std::vector<double>;

TEST(VisionTower, GradientsOfEveryWeightMatchFiniteDifferences) {
  // Odd sizes: hidden 6 in 2 heads of 3, MLP 5, patches of 2 on a 4×4 image (4 patches + CLS),
  // 2 blocks, quick_gelu.
  VisionShape s;
  s.hidden = 6, s.intermediate = 5, s.patch = 2, s.image = 4, s.heads = 2, s.layers = 2;
  const int64_t C = 6, I = 5, N = s.tokens(), PL = 3 * 2 * 2;
  std::mt19937 rng(5);
  std::uniform_real_distribution<double> u(-0.5, 0.5);
  auto rnd = [&](int64_t n, double base = 0) {
    Vec v(static_cast<size_t>(n));
    for (auto& x : v) x = base + u(rng);
    return v;
  };
  Vec pixels = rnd(3 * 4 * 4), patch = rnd(C * PL), cls = rnd(C), pos = rnd(N * C), pre_w = rnd(C, 1), pre_b = rnd(C),
      R = rnd(N * C);
  struct LayerW {
    Vec t[16];
  };
  const int64_t sizes[16] = {C, C, C * C, C, C * C, C, C * C, C, C * C, C, C, C, I * C, I, C * I, C};
  std::vector<LayerW> lw(2), lg(2);
  for (int l = 0; l < 2; ++l)
    for (int i = 0; i < 16; ++i) {
      lw[size_t(l)].t[i] = rnd(sizes[i], i == 0 || i == 10 ? 1 : 0);
      lg[size_t(l)].t[i].assign(size_t(sizes[i]), 0);
    }
  auto params = [&] {
    VisionParams<double> w{patch.data(), cls.data(), pos.data(), pre_w.data(), pre_b.data(), {}};
    for (auto& L : lw) {
      auto f = [&](int i) { return L.t[i].data(); };
      w.layers.push_back({f(0), f(1), f(2), f(3), f(4), f(5), f(6), f(7), f(8), f(9), f(10), f(11), f(12), f(13),
                          f(14), f(15)});
    }
    return w;
  };
  VisionActs<double> acts;
  auto loss = [&] {
    Vec out(static_cast<size_t>(N * C));
    vision_forward(out.data(), pixels.data(), params(), s, acts);
    double l = 0;
    for (size_t i = 0; i < out.size(); ++i) l += out[i] * R[i];
    return l;
  };
  loss();
  Vec dpatch(patch.size()), dcls(C), dpos(pos.size()), dpre_w(C), dpre_b(C);
  VisionGrads<double> g{dpatch.data(), dcls.data(), dpos.data(), dpre_w.data(), dpre_b.data(), {}};
  for (auto& L : lg) {
    auto f = [&](int i) { return L.t[i].data(); };
    g.layers.push_back(
        {f(0), f(1), f(2), f(3), f(4), f(5), f(6), f(7), f(8), f(9), f(10), f(11), f(12), f(13), f(14), f(15)});
  }
  vision_backward(R.data(), params(), g, s, acts);
  auto check = [&](Vec& p, const Vec& grad, const std::string& what) {
    test::expect_gradient(p, grad, loss, what.c_str());
  };
  check(patch, dpatch, "patch embedding");
  check(cls, dcls, "class embedding");
  check(pos, dpos, "position embedding");
  check(pre_w, dpre_w, "pre-LayerNorm weight");
  check(pre_b, dpre_b, "pre-LayerNorm bias");
  for (int l = 0; l < 2; ++l)
    for (int i = 0; i < 16; ++i)
      check(lw[size_t(l)].t[i], lg[size_t(l)].t[i], "layer " + std::to_string(l) + " tensor " + std::to_string(i));
}

TEST(VisionTower, TrainingStepWithTheTowerMatchesTheFrozenStep) {
  auto dirs = test::fixtures_of_type("ada_llava_llama");
  ASSERT_FALSE(dirs.empty());
  for (const std::string& dir : dirs) {
    SCOPED_TRACE(dir);
    auto m = LlavaModel::load(dir);
    Params frozen = Params::from_model(*m), trained = Params::from_model(*m, true);
    ASSERT_FALSE(frozen.has_vision());
    ASSERT_TRUE(trained.has_vision());
    const auto pixels = test::npy_f32(dir + "/pixel_values.npy");
    Sample s{test::npy_i64(dir + "/train_input_ids.npy"), test::npy_i64(dir + "/train_labels.npy"), pixels.data(), {}};
    const auto noise = test::npy_f32(dir + "/train_gumbel_noise.npy");
    const int units = budget_units(read_npy(dir + "/train_budget.npy").to_f64()[0], m->adaptive()->config);
    auto step = [&](const Params& p) {
      size_t used = 0;
      return ada_train_step(*m, p, s, units, 5.f, test::recorded_noise(noise, &used));
    };
    const StepResult a = step(frozen), b = step(trained);
    EXPECT_NEAR(a.loss, b.loss, 1e-5);
    EXPECT_TRUE(test::all_close(a.logits, b.logits, 1e-4, "logits"));
    for (const auto& [name, g] : a.grads) {
      double scale = 1e-3;
      for (float v : g) scale = std::max(scale, double(std::abs(v)));
      EXPECT_TRUE(test::all_close(b.grads.at(name), g, 1e-4 * scale, "gradient " + name));
    }
  }
}

// The same checkpoint as plain LLaVA (no latency token, no scheduler: nothing straight-through
// in the way), so finite differences of the whole step's loss see exactly what backward computes.
TEST(VisionTower, StepGradientsOfTheTowerMatchFiniteDifferences) {
  auto dirs = test::fixtures_of_type("ada_llava_llama");
  ASSERT_FALSE(dirs.empty());
  for (const std::string& dir : dirs) {
    SCOPED_TRACE(dir);
    test::TempDir tmp;
    nlohmann::json cfg = nlohmann::json::parse(test::read_file(dir + "/config.json"));
    cfg["model_type"] = "llava_llama";
    test::write_file(tmp.path + "/config.json", cfg.dump());
    std::filesystem::create_symlink(dir + "/model.safetensors", tmp.path + "/model.safetensors");
    std::filesystem::create_directory_symlink(dir + "/" + cfg["mm_vision_tower"].get<std::string>(),
                                              tmp.path + "/" + cfg["mm_vision_tower"].get<std::string>());
    auto m = LlavaModel::load(tmp.path);
    ASSERT_EQ(m->adaptive(), nullptr);
    Params p = Params::from_model(*m, true);
    const auto pixels = test::npy_f32(dir + "/pixel_values.npy");
    Sample s{test::npy_i64(dir + "/train_input_ids.npy"), test::npy_i64(dir + "/train_labels.npy"), pixels.data(), {}};
    const GumbelSource none = [](float*, int64_t) { FAIL() << "plain LLaVA draws no noise"; };
    const StepResult r = ada_train_step(*m, p, s, 0, 5.f, none);
    EXPECT_EQ(r.latency_position, -1);
    for (const std::string& name : {std::string(kEmbeddedVisionPrefix) + "embeddings.class_embedding",
                                    std::string(kEmbeddedVisionPrefix) + "pre_layrnorm.bias",
                                    std::string(kEmbeddedVisionPrefix) + "embeddings.patch_embedding.weight",
                                    std::string("model.mm_projector.0.bias")}) {
      SCOPED_TRACE(name);
      const std::vector<float>& grad = r.grads.at(name);
      std::vector<float>& w = p.values.at(name);
      for (size_t i = 0; i < std::min<size_t>(w.size(), 4); ++i) {
        const float keep = w[i], h = 1e-2f;
        w[i] = keep + h;
        const double up = ada_train_step(*m, p, s, 0, 5.f, none).loss;
        w[i] = keep - h;
        const double down = ada_train_step(*m, p, s, 0, 5.f, none).loss;
        w[i] = keep;
        const double fd = (up - down) / (2 * double(h));
        EXPECT_NEAR(grad[i], fd, 2e-3 * std::max(std::abs(fd), 1e-1)) << "element " << i;
      }
    }
  }
}

}  // namespace
}  // namespace adallava::train
