// The masked-form training layer: its forward against the inference decoder, and every gradient
// (input, weights, head and group gates) against finite differences in double.
#include "train/decoder_layer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "kernels/ops.h"
#include "llava/llava.h"
#include "test_util.h"
#include "train/train_test_util.h"

namespace adallava::train {
namespace {

using Vec = std::vector<double>;

TEST(DecoderLayer, GradientsOfInputWeightsAndGatesMatchFiniteDifferences) {
  // Odd sizes: 2 heads of 4 (GQA: 1 KV head), hidden 8, intermediate 7 (groups of 4 and 3).
  LayerShape s;
  s.T = 3, s.hidden = 8, s.intermediate = 7, s.n_heads = 2, s.n_kv_heads = 1, s.head_dim = 4, s.rms_eps = 1e-5;
  std::vector<float> inv(2);
  rope_inv_freq(inv.data(), 4, 10000.f);
  const std::vector<int64_t> pos = {0, 1, 5};
  s.inv_freq = inv.data(), s.positions = pos.data();
  const int64_t H = 8, I = 7, qd = 8, kvd = 4, T = 3;
  std::mt19937 rng(9);
  std::uniform_real_distribution<double> u(-0.6, 0.6);
  auto rnd = [&](int64_t n, double base = 0) {
    Vec v(static_cast<size_t>(n));
    for (auto& x : v) x = base + u(rng);
    return v;
  };
  Vec x = rnd(T * H), n1 = rnd(H, 1), n2 = rnd(H, 1), wq = rnd(qd * H), wk = rnd(kvd * H), wv = rnd(kvd * H),
      wo = rnd(H * qd), wg = rnd(I * H), wu = rnd(I * H), wd = rnd(H * I), hg = rnd(2, 0.8), gg = rnd(2, 0.8),
      R = rnd(T * H);
  LayerParams<double> w{n1.data(), n2.data(), wq.data(), wk.data(), wv.data(),
                        wo.data(), wg.data(), wu.data(), wd.data()};
  LayerActs<double> acts;
  auto loss = [&] {
    Vec out(static_cast<size_t>(T * H));
    layer_forward(out.data(), x.data(), w, hg.data(), gg.data(), s, acts);
    double l = 0;
    for (size_t i = 0; i < out.size(); ++i) l += out[i] * R[i];
    return l;
  };
  loss();
  Vec dx(x.size()), dn1(H), dn2(H), dq(wq.size()), dk(wk.size()), dv(wv.size()), dO(wo.size()), dG(wg.size()),
      dU(wu.size()), dD(wd.size()), dhg(2), dgg(2);
  LayerGrads<double> g{dn1.data(), dn2.data(), dq.data(), dk.data(), dv.data(),
                       dO.data(),  dG.data(),  dU.data(), dD.data()};
  layer_backward(dx.data(), dhg.data(), dgg.data(), R.data(), w, g, hg.data(), gg.data(), s, acts);
  auto check = [&](Vec& p, const Vec& grad, const char* what) { test::expect_gradient(p, grad, loss, what); };
  check(x, dx, "x");
  check(n1, dn1, "attn_norm");
  check(n2, dn2, "mlp_norm");
  check(wq, dq, "q");
  check(wk, dk, "k");
  check(wv, dv, "v");
  check(wo, dO, "o");
  check(wg, dG, "gate");
  check(wu, dU, "up");
  check(wd, dD, "down");
  check(hg, dhg, "head gates");
  check(gg, dgg, "group gates");
}

TEST(DecoderLayer, ZeroGatesMakeTheLayerTheIdentity) {
  LayerShape s;
  s.T = 2, s.hidden = 4, s.intermediate = 5, s.n_heads = 2, s.n_kv_heads = 2, s.head_dim = 2;
  std::vector<float> inv(1, 1.f);
  const std::vector<int64_t> pos = {0, 1};
  s.inv_freq = inv.data(), s.positions = pos.data();
  std::vector<float> x = {0.1f, -0.2f, 0.3f, 0.4f, 0.5f, -0.6f, 0.7f, 0.8f}, ones(4, 1.f), m(20, 0.3f), out(8),
                     zero(2, 0.f);
  LayerParams<float> w{ones.data(), ones.data(), m.data(), m.data(), m.data(), m.data(), m.data(), m.data(), m.data()};
  LayerActs<float> acts;
  layer_forward(out.data(), x.data(), w, zero.data(), zero.data(), s, acts);
  EXPECT_EQ(out, x);
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
    LayerShape s;
    s.T = T, s.hidden = H, s.intermediate = c.intermediate_size, s.n_heads = c.num_heads;
    s.n_kv_heads = c.num_kv_heads, s.head_dim = c.head_dim, s.rms_eps = c.rms_norm_eps;
    s.inv_freq = d.inv_freq(), s.positions = pos.data();
    for (int l = 0; l < c.num_layers; ++l) {
      const LlamaLayer& L = d.layer(l);
      ASSERT_EQ(L.q.w.dtype, DType::F32);
      auto f = [](const Linear& lin) { return static_cast<const float*>(lin.w.data); };
      LayerParams<float> w{L.attn_norm.data(), L.mlp_norm.data(), f(L.q),   f(L.k), f(L.v), f(L.o),
                           f(L.gate),          f(L.up),           f(L.down)};
      const float* gates = plans.data() + (b * size_t(c.num_layers) + size_t(l)) * 2 * size_t(c.num_heads);
      std::vector<float> out(static_cast<size_t>(T * H));
      LayerActs<float> acts;
      layer_forward(out.data(), stream.data() + size_t(l) * size_t(T * H), w, gates, gates + c.num_heads, s, acts);
      const std::vector<float> want(stream.begin() + long(size_t(l + 1) * size_t(T * H)),
                                    stream.begin() + long(size_t(l + 2) * size_t(T * H)));
      EXPECT_TRUE(test::all_close(out, want, 5e-5, "layer " + std::to_string(l)));
    }
  }
}

}  // namespace
}  // namespace adallava::train
