// The training layer is the inference layer (model/llama_decoder) in the masked form: its
// backward against finite differences of that forward, its forward against the authors'
// residual stream, and the masked form of a hard plan against the plan run as inference runs
// it (skipped heads, groups and layers not computed at all).
#include "train/decoder_layer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "llava/llava.h"
#include "test_util.h"
#include "train/train_test_util.h"

namespace adallava::train {
namespace {

// One layer of odd sizes: 2 heads of 4 (GQA: 1 KV head), hidden 8, intermediate 7 (groups of
// 4 and 3), its weights f32 vectors that a TensorStore views.
struct TinyLayer {
  TextConfig cfg;
  test::RandomWeights w{9, 0.6f};
  TinyLayer() {
    cfg.hidden_size = 8, cfg.intermediate_size = 7, cfg.num_layers = 1, cfg.num_heads = 2, cfg.num_kv_heads = 1;
    cfg.head_dim = 4, cfg.vocab_size = 5, cfg.rms_norm_eps = 1e-5f;
    w.add("model.embed_tokens.weight", {5, 8});
    w.add("lm_head.weight", {5, 8});
    w.add("model.norm.weight", {8}, 1);
    const std::string p = "model.layers.0.";
    w.add(p + "input_layernorm.weight", {8}, 1);
    w.add(p + "post_attention_layernorm.weight", {8}, 1);
    w.add(p + "self_attn.q_proj.weight", {8, 8});
    w.add(p + "self_attn.k_proj.weight", {4, 8});
    w.add(p + "self_attn.v_proj.weight", {4, 8});
    w.add(p + "self_attn.o_proj.weight", {8, 8});
    w.add(p + "mlp.gate_proj.weight", {7, 8});
    w.add(p + "mlp.up_proj.weight", {7, 8});
    w.add(p + "mlp.down_proj.weight", {8, 7});
  }
  LlamaDecoder decoder() const { return LlamaDecoder::load(w.store(), cfg, "model.", "lm_head.weight"); }
};

TEST(DecoderLayer, BackwardMatchesFiniteDifferencesOfTheInferenceForward) {
  TinyLayer tiny;
  const int64_t T = 3, H = 8;
  const std::vector<int64_t> pos = {0, 1, 5};
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-0.6f, 0.6f);
  std::vector<float> x(size_t(T * H)), R(size_t(T * H)), gates = {0.9f, 1.3f, 0.7f, 1.1f};
  for (float& v : x) v = u(rng);
  for (float& v : R) v = u(rng);
  LlamaLayerTrace trace;
  auto forward = [&](LlamaLayerTrace* tr) {
    std::vector<float> out(x);
    tiny.decoder().forward_layer(0, gated_plan(2, gates.data(), gates.data() + 2), out.data(), T, pos.data(),
                                 Precision::F32, tr);
    double l = 0;
    for (size_t i = 0; i < out.size(); ++i) l += double(out[i]) * R[i];
    return l;
  };
  forward(&trace);
  std::map<std::string, std::vector<float>> g;
  for (const auto& [name, v] : tiny.w.values) g[name].assign(v.size(), 0.f);
  const std::string p = "model.layers.0.";
  auto at = [&](const char* n) { return g.at(p + n).data(); };
  const LayerGrads grads{at("input_layernorm.weight"),  at("post_attention_layernorm.weight"),
                         at("self_attn.q_proj.weight"), at("self_attn.k_proj.weight"),
                         at("self_attn.v_proj.weight"), at("self_attn.o_proj.weight"),
                         at("mlp.gate_proj.weight"),    at("mlp.up_proj.weight"),
                         at("mlp.down_proj.weight")};
  std::vector<float> dx(x.size(), 0.f), dgates(4, 0.f);
  const LlamaDecoder d = tiny.decoder();
  layer_backward(dx.data(), dgates.data(), dgates.data() + 2, R.data(), d, 0,
                 gated_plan(2, gates.data(), gates.data() + 2), grads, trace, pos.data());
  auto loss = [&] { return forward(nullptr); };
  // The f32 forward's rounding over the step bounds the agreement (~1e-5 relative here).
  constexpr float kStep = 2e-2f;
  constexpr double kTol = 2e-4;
  test::expect_gradient_f32(x, dx, loss, "x", kStep, kTol);
  test::expect_gradient_f32(gates, dgates, loss, "gates", kStep, kTol);
  for (const auto& [name, grad] : g)
    if (name.rfind(p, 0) == 0) test::expect_gradient_f32(tiny.w.values.at(name), grad, loss, name.c_str(), kStep, kTol);
}

TEST(DecoderLayer, ZeroGatesMakeTheLayerTheIdentity) {
  TinyLayer tiny;
  const std::vector<int64_t> pos = {0, 1};
  std::vector<float> x = {0.1f, -0.2f, 0.3f, 0.4f, 0.5f, -0.6f, 0.7f, 0.8f, 0.f, 1.f, 2.f, 3.f, 4.f, 5.f, 6.f, 7.f};
  const std::vector<float> in = x, zero(2, 0.f);
  LlamaLayerTrace trace;
  tiny.decoder().forward_layer(0, gated_plan(2, zero.data(), zero.data()), x.data(), 2, pos.data(), Precision::F32,
                               &trace);
  EXPECT_EQ(x, in);
  EXPECT_EQ(trace.x, in);
}

// The training layer reproduces the authors' residual stream at b = 0.75 layer by layer, with
// the recorded plan as gates (skipped layers: all gates 0, so the identity).
TEST(DecoderLayer, ForwardMatchesTheAuthorsResidualStream) {
  for (const std::string& dir : test::fixtures_of_type("ada_llava_llama")) {
    SCOPED_TRACE(dir);
    auto m = LlavaModel::load(dir);
    const LlamaDecoder& d = m->decoder();
    const TextConfig& c = d.config();
    const auto stream = test::npy_f32(dir + "/llm_residual_stream_b0p75.npy");  // [N + 1, T, H]
    const auto budgets = read_npy(dir + "/budgets.npy").to_f64();
    const size_t b = size_t(std::find(budgets.begin(), budgets.end(), 0.75) - budgets.begin());
    ASSERT_LT(b, budgets.size());
    const auto plans = test::npy_f32(dir + "/execution_plan.npy");  // [B, N, 2, n_heads]
    const int64_t H = c.hidden_size, T = int64_t(stream.size()) / ((c.num_layers + 1) * H);
    std::vector<int64_t> pos(static_cast<size_t>(T));
    for (int64_t t = 0; t < T; ++t) pos[size_t(t)] = t;
    for (int l = 0; l < c.num_layers; ++l) {
      const float* gates = plans.data() + (b * size_t(c.num_layers) + size_t(l)) * 2 * size_t(c.num_heads);
      std::vector<float> x(stream.begin() + long(size_t(l) * size_t(T * H)),
                           stream.begin() + long(size_t(l + 1) * size_t(T * H)));
      LlamaLayerTrace trace;
      d.forward_layer(l, gated_plan(c.num_heads, gates, gates + c.num_heads), x.data(), T, pos.data(), Precision::F32,
                      &trace);
      const std::vector<float> want(stream.begin() + long(size_t(l + 1) * size_t(T * H)),
                                    stream.begin() + long(size_t(l + 2) * size_t(T * H)));
      EXPECT_TRUE(test::all_close(x, want, 5e-5, "layer " + std::to_string(l)));
    }
  }
}

// Training's forward at a hard plan (every head and group computed, the off ones gated to 0) is
// inference's forward at that plan (the off ones never computed), through the whole stack, for
// the L and the H model and every recorded budget.
TEST(DecoderLayer, MaskedFormOfAHardPlanEqualsTheInferencePlan) {
  for (const std::string& dir : test::fixtures_of_type("ada_llava_llama")) {
    SCOPED_TRACE(dir);
    auto m = LlavaModel::load(dir);
    const LlamaDecoder& d = m->decoder();
    const TextConfig& c = d.config();
    const auto stream = test::npy_f32(dir + "/llm_residual_stream_b0p75.npy");
    const auto plans = test::npy_f32(dir + "/execution_plan.npy");  // [B, N, 2, n_heads]
    const int64_t H = c.hidden_size, T = int64_t(stream.size()) / ((c.num_layers + 1) * H);
    const size_t per_plan = size_t(c.num_layers) * 2 * size_t(c.num_heads);
    std::vector<int64_t> pos(static_cast<size_t>(T));
    for (int64_t t = 0; t < T; ++t) pos[size_t(t)] = t;
    for (size_t b = 0; b < plans.size() / per_plan; ++b) {
      const float* mask = plans.data() + b * per_plan;
      const ExecutionPlan hard = ExecutionPlan::from_mask(mask, c.num_layers, c.num_heads);
      std::vector<float> masked(stream.begin(), stream.begin() + T * H), inference(masked);
      for (int l = 0; l < c.num_layers; ++l) {
        const float* gates = mask + size_t(l) * 2 * size_t(c.num_heads);
        d.forward_layer(l, gated_plan(c.num_heads, gates, gates + c.num_heads), masked.data(), T, pos.data(),
                        Precision::F32);
        if (hard.runs(l)) d.forward_layer(l, hard.layer(l), inference.data(), T, pos.data(), Precision::F32);
      }
      EXPECT_TRUE(test::all_close(masked, inference, 1e-5, "plan " + std::to_string(b)));
    }
  }
}

}  // namespace
}  // namespace adallava::train
