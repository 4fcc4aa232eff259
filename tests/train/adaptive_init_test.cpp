// Turning plain LLaVA into AdaLLaVA: the config fields, the new tensors' shapes and the
// authors' initialisation (Linear N(0, 0.02), biases 0, LayerNorm 1 and 0), checked flags.
#include "train/adaptive_init.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "adaptive/latency_encoder.h"
#include "tensor/error.h"
#include "test_util.h"

namespace adallava::train {
namespace {

std::unique_ptr<LlavaModel> plain_model(const test::TempDir& t) {
  const std::string dir = test::fixture("adallava_tiny_H");
  nlohmann::json cfg = nlohmann::json::parse(test::read_file(dir + "/config.json"));
  cfg["model_type"] = "llava_llama";
  for (const char* k : {"num_prefix_layers", "scheduler_type", "scheduler_rank", "token_selecting"}) cfg.erase(k);
  test::write_file(t.file("config.json"), cfg.dump());
  std::filesystem::create_symlink(dir + "/model.safetensors", t.file("model.safetensors"));
  const std::string tower = cfg["mm_vision_tower"].get<std::string>();
  std::filesystem::create_directory_symlink(dir + "/" + tower, t.file(tower));
  return LlavaModel::load(t.path);
}

TEST(AdaptiveInit, AddsTheSchedulerAsTheAuthorsInitialiseIt) {
  test::TempDir t;
  auto m = plain_model(t);
  ASSERT_EQ(m->adaptive(), nullptr);
  Params p = Params::from_model(*m);
  ASSERT_EQ(p.values.count("scheduler.mlp_head.weight"), 0u);
  const TextConfig& c = m->config().text;
  const nlohmann::json cfg = make_adaptive(*m, p, AdaptiveInit{"H", 1, 2, 7});
  EXPECT_EQ(cfg["model_type"], "ada_llava_llama");
  EXPECT_EQ(cfg["scheduler_type"], "H");
  EXPECT_EQ(cfg["num_prefix_layers"], 1);
  EXPECT_EQ(cfg["scheduler_rank"], 2);
  const int64_t H = c.hidden_size, gated = c.num_layers - 1;
  const std::string e = "scheduler.scheduler_up_proj.net.";
  EXPECT_EQ(p.shapes.at(e + "1.weight"), (std::vector<int64_t>{H, kLatencyEncodingDim}));
  EXPECT_EQ(p.shapes.at(e + "3.weight"), (std::vector<int64_t>{H, H}));
  // One logit per head and per MLP group of each gated layer.
  EXPECT_EQ(p.shapes.at("scheduler.mlp_head.weight"), (std::vector<int64_t>{gated * 2 * c.num_heads, H}));
  for (const char* n : {"0.bias", "1.bias", "3.bias"})
    for (float v : p.values.at(e + n)) EXPECT_EQ(v, 0.f) << n;
  for (float v : p.values.at(e + "0.weight")) EXPECT_EQ(v, 1.f);
  for (float v : p.values.at("scheduler.mlp_head.bias")) EXPECT_EQ(v, 0.f);
  // The big random tensor's moments: mean ≈ 0, std ≈ 0.02 (n = H·256 draws).
  const std::vector<float>& w = p.values.at(e + "1.weight");
  double mean = 0, sq = 0;
  for (float v : w) mean += v, sq += double(v) * v;
  mean /= double(w.size());
  const double sd = std::sqrt(sq / double(w.size()) - mean * mean);
  EXPECT_NEAR(mean, 0, 5 * 0.02 / std::sqrt(double(w.size())));
  EXPECT_NEAR(sd, 0.02, 0.02 * 0.05);
  // Seeded: the same seed, the same weights; another seed, others.
  Params q = Params::from_model(*m), r = Params::from_model(*m);
  make_adaptive(*m, q, AdaptiveInit{"H", 1, 2, 7});
  make_adaptive(*m, r, AdaptiveInit{"H", 1, 2, 8});
  EXPECT_EQ(q.values.at(e + "1.weight"), w);
  EXPECT_NE(r.values.at(e + "1.weight"), w);
}

TEST(AdaptiveInit, BadOptionsAreNamed) {
  test::TempDir t;
  auto m = plain_model(t);
  const int heads = m->config().text.num_heads, layers = m->config().text.num_layers;
  Params p = Params::from_model(*m);
  try {
    make_adaptive(*m, p, AdaptiveInit{"H", 1, heads + 1, 0});
    FAIL() << "a rank that does not divide the heads";
  } catch (const OptionError& e) {
    EXPECT_NE(e.option().find("rank"), std::string::npos) << e.what();
    EXPECT_NE(e.message().find("scheduler_rank"), std::string::npos) << e.what();
  }
  EXPECT_THROW(make_adaptive(*m, p, AdaptiveInit{"L", layers, 8, 0}), Error);
}

}  // namespace
}  // namespace adallava::train
