// A request that narrows its plan mid-way (a deadline controller dropping gated layers that
// ran) keeps its KV cache consistent: its logits equal a cache-free run of the same rows in
// which the dropped layers process the rows before the narrowing and skip the ones after.
#include "generate/session.h"

#include <gtest/gtest.h>

#include <numeric>

#include "tensor/error.h"
#include "test_util.h"

namespace adallava {
namespace {

TEST(Session, NarrowingMidRequestEqualsRunningTheNarrowerPlanFromThatTokenOn) {
  for (const char* name : {"adallava_tiny_L", "adallava_tiny_H"}) {
    SCOPED_TRACE(name);
    const std::string dir = test::fixture(name);
    auto m = LlavaModel::load(dir);
    const LlamaDecoder& d = m->decoder();
    const int64_t H = d.hidden(), V = d.vocab();
    const auto pixels = test::npy_f32(dir + "/pixel_values.npy");
    const std::vector<float> features = m->encode_image(pixels.data(), Precision::F32);
    const std::vector<float> embeds = m->merge_embeddings(test::npy_i64(dir + "/input_ids.npy"), &features);
    const int64_t T = int64_t(embeds.size()) / H;
    const std::vector<int64_t> tokens = {5, 9, 13};  // fed after the prompt; the drop comes before the last
    PlanRequest request;  // the full budget: every gated layer runs
    Session s(*m, T + 1 + int64_t(tokens.size()), Precision::F32);
    std::vector<float> logits;
    const PlanReport rep = s.prefill(embeds.data(), T, request, logits);
    const ExecutionPlan before = s.plan();
    s.feed_token(tokens[0], logits);
    s.feed_token(tokens[1], logits);
    const int P = m->adaptive()->config.num_prefix_layers, dropped_a = P, dropped_b = P + 2;
    s.drop_layers({dropped_a, dropped_b});
    s.feed_token(tokens[2], logits);
    EXPECT_THROW(s.drop_layers({dropped_a}), Error);  // no longer runs
    EXPECT_THROW(s.drop_layers({-1}), Error);

    // The same rows without a cache: the prompt (latency token last), then the tokens.
    const int64_t rows = T + 1 + int64_t(tokens.size()), narrowed_from = rows - 1;
    std::vector<float> x(embeds);
    const float* latency = m->adaptive()->encoder.token(rep.units);
    x.insert(x.end(), latency, latency + H);
    for (int64_t id : tokens) {
      x.resize(x.size() + size_t(H));
      d.embed(x.data() + x.size() - size_t(H), &id, 1);
    }
    std::vector<int64_t> pos(static_cast<size_t>(rows));
    std::iota(pos.begin(), pos.end(), 0);
    for (int l = 0; l < d.config().num_layers; ++l) {
      if (!before.runs(l)) continue;
      const bool dropped = l == dropped_a || l == dropped_b;
      d.forward_layer(l, before.layer(l), x.data(), dropped ? narrowed_from : rows, pos.data(), Precision::F32);
    }
    std::vector<float> normed(static_cast<size_t>(H)), want(static_cast<size_t>(V));
    d.final_norm(normed.data(), x.data() + (rows - 1) * H, 1);
    d.lm_head(want.data(), normed.data(), 1, Precision::F32);
    EXPECT_TRUE(test::all_close(logits, want, 1e-4, "logits after narrowing"));
  }
}

}  // namespace
}  // namespace adallava
