// The training vision tower (the inference tower and its backward): every gradient against
// finite differences of the inference forward on a tiny random tower; a training step with the tower trained gives the loss, logits and LLM gradients
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

// A tower of odd sizes: hidden 6 in 2 heads of 3, MLP 5, patches of 2 on a 4×4 image (4
// patches + CLS), 2 blocks, quick_gelu; its weights f32 vectors that a TensorStore views.
struct TinyTower {
  VisionConfig cfg;
  test::RandomWeights w{5, 0.5f};
  TinyTower() {
    cfg.hidden_size = 6, cfg.intermediate_size = 5, cfg.num_layers = 2, cfg.num_heads = 2, cfg.image_size = 4;
    cfg.patch_size = 2, cfg.hidden_act = "quick_gelu";
    w.add("embeddings.patch_embedding.weight", {6, 3, 2, 2});
    w.add("embeddings.class_embedding", {6});
    w.add("embeddings.position_embedding.weight", {5, 6});
    w.add("pre_layrnorm.weight", {6}, 1);
    w.add("pre_layrnorm.bias", {6});
    for (int l = 0; l < 2; ++l) {
      const std::string p = "encoder.layers." + std::to_string(l) + ".";
      for (const char* n : {"layer_norm1", "layer_norm2"}) w.add(p + n + ".weight", {6}, 1), w.add(p + n + ".bias", {6});
      for (const char* n : {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.out_proj"})
        w.add(p + n + ".weight", {6, 6}), w.add(p + n + ".bias", {6});
      w.add(p + "mlp.fc1.weight", {5, 6}), w.add(p + "mlp.fc1.bias", {5});
      w.add(p + "mlp.fc2.weight", {6, 5}), w.add(p + "mlp.fc2.bias", {6});
    }
  }
  ClipVisionTower tower() const { return ClipVisionTower::load(w.store(), cfg, "", 2); }
};

TEST(VisionTower, BackwardMatchesFiniteDifferencesOfTheInferenceForward) {
  TinyTower tiny;
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-0.5f, 0.5f);
  std::vector<float> pixels(3 * 4 * 4), R(5 * 6);
  for (float& v : pixels) v = u(rng);
  for (float& v : R) v = u(rng);
  ClipTrace trace;
  auto forward = [&](ClipTrace* tr) {
    const std::vector<float> out = tiny.tower().encode(pixels.data(), Precision::F32, nullptr, tr);
    double l = 0;
    for (size_t i = 0; i < out.size(); ++i) l += double(out[i]) * R[i];
    return l;
  };
  forward(&trace);
  std::map<std::string, std::vector<float>> g;
  for (const auto& [name, v] : tiny.w.values) g[name].assign(v.size(), 0.f);
  auto at = [&](const std::string& n) { return g.at(n).data(); };
  VisionGrads grads{at("embeddings.patch_embedding.weight"), at("embeddings.class_embedding"),
                    at("embeddings.position_embedding.weight"), at("pre_layrnorm.weight"), at("pre_layrnorm.bias"),
                    {}};
  for (int l = 0; l < 2; ++l) {
    const std::string p = "encoder.layers." + std::to_string(l) + ".";
    auto f = [&](const char* n) { return at(p + n); };
    grads.layers.push_back({f("layer_norm1.weight"), f("layer_norm1.bias"), f("self_attn.q_proj.weight"),
                            f("self_attn.q_proj.bias"), f("self_attn.k_proj.weight"), f("self_attn.k_proj.bias"),
                            f("self_attn.v_proj.weight"), f("self_attn.v_proj.bias"), f("self_attn.out_proj.weight"),
                            f("self_attn.out_proj.bias"), f("layer_norm2.weight"), f("layer_norm2.bias"),
                            f("mlp.fc1.weight"), f("mlp.fc1.bias"), f("mlp.fc2.weight"), f("mlp.fc2.bias")});
  }
  const ClipVisionTower tower = tiny.tower();
  vision_backward(R.data(), tower, grads, trace);
  // The f32 forward's rounding over the step bounds the agreement (~1e-5 relative here).
  for (const auto& [name, grad] : g)
    test::expect_gradient_f32(tiny.w.values.at(name), grad, [&] { return forward(nullptr); }, name.c_str(), 2e-2f, 2e-4);
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
