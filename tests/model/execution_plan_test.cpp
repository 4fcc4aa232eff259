// Execution plans: MLP grouping, and the skipping/slicing decoder against the masked form of
// the spec §5 (every layer computed in full, head outputs and neurons multiplied by the plan)
// on random plans, at prefill and through the KV cache; skipped work gets no KV cache.
#include "model/execution_plan.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "adaptive/budget.h"
#include "generate/session.h"
#include "kernels/attention.h"
#include "kernels/ops.h"
#include "llava/llava.h"
#include "tensor/error.h"
#include "test_util.h"

namespace adallava {
namespace {

TEST(ExecutionPlan, MlpGroupsAreContiguousWithTheFirstRemainderGroupsLarger) {
  for (int64_t I : {172, 176, 11008, 13824, 7}) {
    for (int n : {1, 4, 8, 32, 40}) {
      int64_t next = 0;
      for (int g = 0; g < n; ++g) {
        auto [b, e] = mlp_group_range(I, n, g);
        EXPECT_EQ(b, next);
        EXPECT_EQ(e - b, I / n + (g < I % n ? 1 : 0));
        next = e;
      }
      EXPECT_EQ(next, I);
    }
  }
}

TEST(ExecutionPlan, RunsMasksAndLayerLists) {
  EXPECT_EQ(contiguous_runs({0, 1, 2, 5, 7, 8}), (std::vector<std::pair<int, int>>{{0, 3}, {5, 1}, {7, 2}}));
  EXPECT_TRUE(contiguous_runs({}).empty());
  ExecutionPlan p = ExecutionPlan::layers({0, 2}, 3, 4);
  EXPECT_TRUE(p.runs(0) && !p.runs(1) && p.runs(2) && p.is_full(2));
  EXPECT_EQ(p.executed_layers(), (std::vector<int>{0, 2}));
  p.layer(2).heads = {1, 3};
  p.layer(2).mlp_groups = {0};
  EXPECT_FALSE(p.is_full(2));
  EXPECT_EQ(ExecutionPlan::from_mask(p.to_mask().data(), 3, 4), p);
  EXPECT_THROW(ExecutionPlan::layers({3}, 3, 4), Error);
}

// The masked form: every head and neuron computed, switched-off ones multiplied by zero.
std::vector<float> masked_logits(const LlavaModel& m, const std::vector<float>& input, const ExecutionPlan& plan) {
  const LlamaDecoder& d = m.decoder();
  const TextConfig& c = d.config();
  const int64_t H = c.hidden_size, I = c.intermediate_size, T = int64_t(input.size()) / H, hd = c.head_dim;
  const int64_t qd = c.num_heads * hd, kvd = c.num_kv_heads * hd;
  std::vector<float> x = input, xn(size_t(T * H)), q(size_t(T * qd)), k(size_t(T * kvd)), v(size_t(T * kvd)),
                     att(size_t(T * qd)), g(size_t(T * I)), u(size_t(T * I)), kc(size_t(T * kvd)), vc(size_t(T * kvd));
  std::vector<int64_t> pos(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) pos[size_t(t)] = t;
  const std::vector<float> mask = plan.to_mask();
  for (int l = 0; l < c.num_layers; ++l) {
    const LlamaLayer& L = d.layer(l);
    const float* head_on = mask.data() + size_t(l) * 2 * size_t(c.num_heads);
    const float* group_on = head_on + c.num_heads;
    rms_norm(xn.data(), x.data(), L.attn_norm.data(), T, H, c.rms_norm_eps);
    L.q.forward(q.data(), xn.data(), T, Precision::F32);
    L.k.forward(k.data(), xn.data(), T, Precision::F32);
    L.v.forward(v.data(), xn.data(), T, Precision::F32);
    rope_apply(q.data(), qd, T, c.num_heads, int(hd), pos.data(), d.inv_freq());
    rope_apply(k.data(), kvd, T, c.num_kv_heads, int(hd), pos.data(), d.inv_freq());
    KvView kv{kc.data(), vc.data(), T, int(hd), c.num_kv_heads};
    kv_store(kv, k.data(), kvd, v.data(), kvd, T, 0);
    attention(att.data(), qd, q.data(), qd, T, 0, c.num_heads, kv, 1.f / std::sqrt(float(hd)), true);
    for (int64_t t = 0; t < T; ++t)
      for (int64_t j = 0; j < qd; ++j) att[size_t(t * qd + j)] *= head_on[j / hd];
    matmul(x.data(), H, att.data(), qd, T, L.o.w, nullptr, Precision::F32, true);
    rms_norm(xn.data(), x.data(), L.mlp_norm.data(), T, H, c.rms_norm_eps);
    L.gate.forward(g.data(), xn.data(), T, Precision::F32);
    L.up.forward(u.data(), xn.data(), T, Precision::F32);
    swiglu(g.data(), u.data(), T * I);
    for (int grp = 0; grp < c.num_heads; ++grp) {
      auto [b, e] = mlp_group_range(I, c.num_heads, grp);
      for (int64_t t = 0; t < T; ++t)
        for (int64_t n = b; n < e; ++n) g[size_t(t * I + n)] *= group_on[grp];
    }
    matmul(x.data(), H, g.data(), I, T, L.down.w, nullptr, Precision::F32, true);
  }
  std::vector<float> normed(x.size()), logits(size_t(T) * size_t(c.vocab_size));
  d.final_norm(normed.data(), x.data(), T);
  d.lm_head(logits.data(), normed.data(), T, Precision::F32);
  return logits;
}

// Random plan: each layer skipped, full, or random head and group subsets (independent sizes).
ExecutionPlan random_plan_any(int n_layers, int n_heads, std::mt19937& rng) {
  ExecutionPlan p = ExecutionPlan::full(n_layers, n_heads);
  for (int l = 0; l < n_layers; ++l) {
    const int kind = int(rng() % 4);
    if (kind == 0) p.layer(l) = LayerPlan{};
    if (kind >= 2) {
      LayerPlan lp;
      for (int h = 0; h < n_heads; ++h) {
        if (rng() % 2) lp.heads.push_back(h);
        if (rng() % 2) lp.mlp_groups.push_back(h);
      }
      p.layer(l) = lp;
    }
  }
  return p;
}

TEST(ExecutionPlan, SkippingMatchesTheMaskedFormAndCachesOnlyWhatRuns) {
  constexpr double kLogitsAtol = 1e-4;
  auto dirs = test::fixtures_of_type("ada_llava_llama");
  ASSERT_FALSE(dirs.empty());
  std::mt19937 rng(11);
  for (const std::string& dir : dirs) {
    SCOPED_TRACE(dir);
    auto m = LlavaModel::load(dir);
    const LlamaDecoder& d = m->decoder();
    const TextConfig& c = d.config();
    const int64_t H = c.hidden_size, V = c.vocab_size;
    const auto pixels = test::npy_f32(dir + "/pixel_values.npy");
    const std::vector<float> features = m->encode_image(pixels.data(), Precision::F32);
    const std::vector<float> embeds = m->merge_embeddings(test::npy_i64(dir + "/input_ids.npy"), &features);
    const int64_t T = int64_t(embeds.size()) / H;
    const float* latency = m->adaptive()->encoder.token(budget_units(1.0, m->adaptive()->config));
    const std::vector<int64_t> next_ids = {5, 17, 42};
    for (int trial = 0; trial < 6; ++trial) {
      SCOPED_TRACE("trial " + std::to_string(trial));
      PlanRequest req;
      req.policy.kind = PlanPolicy::Fixed;
      req.policy.plan = random_plan_any(c.num_layers, c.num_heads, rng);
      const ExecutionPlan& plan = req.policy.plan;
      Session s(*m, T + 1 + int64_t(next_ids.size()), Precision::F32);
      std::vector<float> logits, all;
      s.prefill(embeds.data(), T, req, logits, /*all_rows=*/true);
      all = logits;
      for (int64_t id : next_ids) {
        s.feed_token(id, logits);
        all.insert(all.end(), logits.begin(), logits.end());
      }
      // The masked form over the same sequence (prompt, latency token, fed tokens), in one pass.
      std::vector<float> input = embeds;
      input.insert(input.end(), latency, latency + H);
      for (int64_t id : next_ids) {
        std::vector<float> e(static_cast<size_t>(H));
        d.embed(e.data(), &id, 1);
        input.insert(input.end(), e.begin(), e.end());
      }
      const std::vector<float> want = masked_logits(*m, input, plan);
      ASSERT_EQ(all.size(), want.size());
      EXPECT_TRUE(test::all_close(all, want, kLogitsAtol, "skipping vs masked logits"));
      EXPECT_EQ(s.plan(), plan);

      size_t bytes = 0;
      for (int l = 0; l < c.num_layers; ++l) {
        const int heads = int(plan.layer(l).heads.size());
        EXPECT_EQ(s.cache().allocated(l), heads > 0) << "layer " << l;
        EXPECT_EQ(s.cache().heads(l), heads == c.num_heads ? c.num_kv_heads : heads) << "layer " << l;
        bytes += 2 * size_t(s.cache().heads(l)) * size_t(s.cache().capacity()) * size_t(c.head_dim) * sizeof(float);
      }
      EXPECT_EQ(s.cache().bytes(), bytes);
      (void)V;
    }
  }
}

}  // namespace
}  // namespace adallava
