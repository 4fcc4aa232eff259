// The whole model against Hugging Face transformers' outputs, for every fixture folder of
// model_type llava or llama (any size or config). Tolerances (fixtures/README): logits 1e-4,
// intermediate states 5e-5, ids exact; bf16 compute keeps the ids and stays within 0.25.
#include <gtest/gtest.h>

#include <numeric>

#include "generate/session.h"
#include "llava/llava.h"
#include "test_util.h"
#include "vision/clip_preprocess.h"

namespace adallava {
namespace {

using test::all_close;
using test::npy_f32;
using test::npy_i64;

constexpr double kLogitsAtol = 1e-4;
constexpr double kStateAtol = 5e-5;
constexpr double kBf16LogitsAtol = 0.25;

std::vector<float> slice(const std::vector<float>& v, size_t begin, size_t n) {
  return std::vector<float>(v.begin() + long(begin), v.begin() + long(begin + n));
}

// Decoder states for a merged input: each layer's output and the final-norm output.
struct DecoderStates {
  std::vector<float> layer_outputs, final_normed;
};

DecoderStates run_decoder(const LlavaModel& m, const std::vector<float>& embeds, Precision p) {
  const LlamaDecoder& d = m.decoder();
  const int64_t H = d.hidden(), T = int64_t(embeds.size()) / H;
  const TextConfig& c = d.config();
  ExecutionPlan plan = ExecutionPlan::full(c.num_layers, c.num_heads);
  KvCache cache(c.num_layers, c.head_dim, T);
  cache.allocate(plan, c.num_kv_heads, 0, c.num_layers);
  std::vector<float> x = embeds;
  std::vector<int64_t> pos(static_cast<size_t>(T));
  std::iota(pos.begin(), pos.end(), 0);
  DecoderStates s;
  d.run_layers(x.data(), T, 0, c.num_layers, pos.data(), cache, plan, p, &s.layer_outputs);
  s.final_normed.resize(x.size());
  d.final_norm(s.final_normed.data(), x.data(), T);
  return s;
}

// Each layer's output and the final-norm output (the last of HF's hidden_states) for a merged input.
void check_decoder_states(const LlavaModel& m, const std::string& dir, const std::vector<float>& embeds) {
  DecoderStates s = run_decoder(m, embeds, Precision::F32);
  EXPECT_TRUE(all_close(s.layer_outputs, npy_f32(dir + "/llm_layer_outputs.npy"), kStateAtol, "layer outputs"));
  const auto hidden = npy_f32(dir + "/llm_hidden_states.npy");
  EXPECT_TRUE(all_close(s.final_normed, slice(hidden, hidden.size() - s.final_normed.size(), s.final_normed.size()),
                        kStateAtol, "final norm"));
}

void check_generation(const LlavaModel& m, const std::string& dir, const std::vector<int64_t>& ids,
                      const float* pixels) {
  const auto want_ids = npy_i64(dir + "/generated_ids.npy");
  const auto want_steps = npy_f32(dir + "/generate_step_logits.npy");
  GenerateOptions g;
  g.max_new_tokens = int(want_ids.size());
  g.ignore_eos = true;
  g.precision = Precision::F32;
  GenerateResult r = generate(m, ids, pixels, g, /*keep_step_logits=*/true);
  EXPECT_EQ(r.ids, want_ids) << dir;
  const size_t V = size_t(m.decoder().vocab());
  for (size_t s = 0; s < r.step_logits.size(); ++s)
    EXPECT_TRUE(all_close(r.step_logits[s], slice(want_steps, s * V, V), kLogitsAtol, dir + " step " + std::to_string(s)));

  g.precision = Precision::BF16;  // bf16 compute: same greedy ids
  EXPECT_EQ(generate(m, ids, pixels, g).ids, want_ids) << dir << " (bf16 compute)";
}

TEST(LlavaFixture, MatchesTransformersAtEveryStage) {
  auto dirs = test::fixtures_of_type("llava");
  ASSERT_FALSE(dirs.empty()) << "no llava fixtures under " << test::fixtures_dir();
  for (const std::string& dir : dirs) {
    SCOPED_TRACE(dir);
    auto m = LlavaModel::load(dir);
    const int64_t H = m->decoder().hidden();

    // Preprocessing of the fixture image.
    const auto want_pixels = npy_f32(dir + "/pixel_values.npy");
    EXPECT_TRUE(all_close(clip_preprocess(load_image(dir + "/image.png"), m->preprocess_config()), want_pixels, 1e-6,
                          "pixel_values"));

    // Vision tower hidden states (from the reference pixels, to test the tower alone).
    std::vector<float> states;
    const std::vector<float> selected = m->vision().encode(want_pixels.data(), Precision::F32, &states);
    const auto want_states = npy_f32(dir + "/vision_hidden_states.npy");
    EXPECT_TRUE(all_close(states, slice(want_states, 0, states.size()), kStateAtol, "vision hidden states"));
    EXPECT_TRUE(all_close(selected, npy_f32(dir + "/vision_selected_layer.npy"), kStateAtol, "selected layer"));

    const std::vector<float> features = m->encode_image(want_pixels.data(), Precision::F32);
    EXPECT_TRUE(all_close(features, npy_f32(dir + "/image_features.npy"), kStateAtol, "image features"));

    const auto ids = npy_i64(dir + "/input_ids.npy");
    std::vector<int64_t> merged_ids;
    const std::vector<float> embeds = m->merge_embeddings(ids, &features, &merged_ids);
    EXPECT_EQ(merged_ids, npy_i64(dir + "/input_ids_expanded.npy"));
    EXPECT_TRUE(all_close(embeds, npy_f32(dir + "/inputs_embeds_merged.npy"), kStateAtol, "merged embeddings"));
    // The already-expanded form (transformers >= 4.45) gives the same sequence.
    EXPECT_TRUE(all_close(m->merge_embeddings(merged_ids, &features), embeds, 0.0, "expanded-form merge"));

    check_decoder_states(*m, dir, embeds);

    int64_t rows = 0;
    const auto logits = all_logits(*m, ids, want_pixels.data(), Precision::F32, {}, &rows);
    EXPECT_EQ(rows * H, int64_t(embeds.size()));
    const auto want_logits = npy_f32(dir + "/logits.npy");
    EXPECT_TRUE(all_close(logits, want_logits, kLogitsAtol, "logits"));
    const auto logits_bf16 = all_logits(*m, ids, want_pixels.data(), Precision::BF16, {}, &rows);
    EXPECT_TRUE(all_close(logits_bf16, logits, kBf16LogitsAtol, "bf16-compute logits vs f32 path"));

    check_generation(*m, dir, ids, want_pixels.data());
  }
}

TEST(LlamaFixture, MatchesTransformersIncludingIncrementalCache) {
  auto dirs = test::fixtures_of_type("llama");
  ASSERT_FALSE(dirs.empty()) << "no llama fixtures under " << test::fixtures_dir();
  for (const std::string& dir : dirs) {
    SCOPED_TRACE(dir);
    auto m = LlavaModel::load(dir);
    const auto ids = npy_i64(dir + "/input_ids.npy");
    const std::vector<float> embeds = m->merge_embeddings(ids, nullptr);
    check_decoder_states(*m, dir, embeds);

    int64_t rows = 0;
    const auto logits = all_logits(*m, ids, nullptr, Precision::F32, {}, &rows);
    EXPECT_TRUE(all_close(logits, npy_f32(dir + "/logits.npy"), kLogitsAtol, "logits"));
    EXPECT_TRUE(all_close(all_logits(*m, ids, nullptr, Precision::BF16, {}, &rows), logits, kBf16LogitsAtol,
                          "bf16-compute logits vs f32 path"));

    // One token per call through the KV cache.
    Session session(*m, int64_t(ids.size()), Precision::F32);
    std::vector<float> incremental, step;
    for (int64_t id : ids) {
      session.feed_token(id, step);
      incremental.insert(incremental.end(), step.begin(), step.end());
    }
    EXPECT_TRUE(all_close(incremental, npy_f32(dir + "/logits_incremental_kv.npy"), kLogitsAtol, "incremental KV"));

    check_generation(*m, dir, ids, nullptr);
  }
}

}  // namespace
}  // namespace adallava
