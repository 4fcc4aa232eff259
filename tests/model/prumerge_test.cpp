// PruMerge and PruMerge+ against the authors' prune_merge / prune_merge_plus, for every
// ada_llava_llama fixture whose checkpoint says token_selecting: the last layer's Q and K, the
// CLS attention, its quartiles and fence, the kept, sampled and complement indices, each kept
// patch's 32 neighbours, the merged rows before and after the projector, and the decoder input.
// Tolerances as the AdaLLaVA fixture tests: states 5e-5, attention and cosines 1e-5; indices exact.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "llava/llava.h"
#include "model/prumerge.h"
#include "tensor/error.h"
#include "test_util.h"

namespace adallava {
namespace {

using test::all_close;
using test::npy_f32;
using test::manifest;
using test::npy_i64;

constexpr double kStateAtol = 5e-5;
constexpr double kAttentionAtol = 1e-5;

std::vector<std::string> selection_fixtures() { return test::fixtures_of_type("ada_llava_llama", true); }

TEST(PruMergeFixture, SelectionAndMergeMatchTheAuthorsCode) {
  const auto dirs = selection_fixtures();
  ASSERT_EQ(dirs.size(), 4u) << "L and H, prumerge and prumerge+, under " << test::fixtures_dir();
  for (const std::string& dir : dirs) {
    SCOPED_TRACE(dir);
    const nlohmann::json sel = manifest(dir)["selection"];
    const auto model = LlavaModel::load(dir);
    const bool plus = sel["token_selecting"] == "prumerge+";
    EXPECT_EQ(model->token_selection().kind, plus ? TokenSelection::PruMergePlus : TokenSelection::PruMerge);
    const auto pixels = npy_f32(dir + "/pixel_values.npy");
    PruMergeTrace t;
    const std::vector<float> features = model->encode_image(pixels.data(), Precision::F32, nullptr, &t);

    EXPECT_TRUE(all_close(t.q, npy_f32(dir + "/selection_q.npy"), kStateAtol, "layer-23 q"));
    EXPECT_TRUE(all_close(t.k, npy_f32(dir + "/selection_k.npy"), kStateAtol, "layer-23 k"));
    EXPECT_TRUE(all_close(t.cls_attention, npy_f32(dir + "/selection_cls_attention.npy"), kAttentionAtol / 100,
                          "CLS attention"));
    EXPECT_NEAR(t.q1, sel["Q1"].get<double>(), 1e-9);
    EXPECT_NEAR(t.q3, sel["Q3"].get<double>(), 1e-9);
    EXPECT_NEAR(t.upper, sel["upper_bound"].get<double>(), 1e-9);
    EXPECT_EQ(int64_t(t.outliers.size()), sel["n_outliers"].get<int64_t>());
    EXPECT_EQ(t.outliers, npy_i64(dir + "/selection_topk_indices.npy"));
    if (plus) {
      EXPECT_EQ(t.samples, npy_i64(dir + "/selection_spatial_samples.npy"));
    }
    EXPECT_EQ(t.kept, npy_i64(dir + "/selected_indices.npy"));
    EXPECT_EQ(t.complement, npy_i64(dir + "/selection_complement_indices.npy"));
    EXPECT_EQ(t.neighbours, npy_i64(dir + "/merge_neighbor_indices.npy"));
    EXPECT_TRUE(all_close(t.neighbour_cos, npy_f32(dir + "/merge_neighbor_cos_sim.npy"), kAttentionAtol, "cosines"));
    EXPECT_EQ(int64_t(features.size()) / model->decoder().hidden(), sel["num_image_tokens"].get<int64_t>());
    EXPECT_TRUE(all_close(features, npy_f32(dir + "/image_features.npy"), kStateAtol, "projected rows"));

    // The merged rows themselves, straight from the selected hidden state of the fixture.
    const auto hidden = npy_f32(dir + "/vision_selected_layer.npy");
    const std::vector<float> merged =
        prumerge(hidden.data(), hidden.data(), 576, model->vision().config(), *model->vision().selection_layer(), plus,
                 Precision::F32);
    EXPECT_TRUE(all_close(merged, npy_f32(dir + "/merged_features_pre_projector.npy"), kStateAtol, "merged rows"));

    // The decoder input: the merged rows spliced at the image marker.
    const std::vector<float> embeds = model->merge_embeddings(npy_i64(dir + "/input_ids.npy"), &features);
    EXPECT_TRUE(all_close(embeds, npy_f32(dir + "/inputs_embeds_merged.npy"), kStateAtol, "decoder input"));
  }
}

TEST(PruMergeFixture, AnOverrideRunsAnotherSelectionOnTheSameCheckpoint) {
  const auto dirs = selection_fixtures();
  ASSERT_FALSE(dirs.empty());
  const auto model = LlavaModel::load(dirs[0]);
  const auto pixels = npy_f32(dirs[0] + "/pixel_values.npy");
  const int64_t H = model->decoder().hidden();
  const TokenSelection none, plus = TokenSelection::parse("prumerge+");
  EXPECT_EQ(int64_t(model->encode_image(pixels.data(), Precision::F32, &none).size()) / H, 576);
  PruMergeTrace t;
  model->encode_image(pixels.data(), Precision::F32, &plus, &t);
  EXPECT_FALSE(t.samples.empty());
}

// A tower built here: hidden state and last layer of the given grid, random but seeded.
struct TinyTower {
  VisionConfig cfg;
  SelectionLayer sel;
  std::vector<float> w, hidden;
};

TinyTower tiny_tower(int grid, float cls_scale) {
  TinyTower t;
  t.cfg.hidden_size = 8, t.cfg.num_heads = 2, t.cfg.patch_size = 4, t.cfg.image_size = 4 * grid;
  const int64_t C = 8, N = int64_t(grid) * grid;
  uint32_t s = 12345;
  auto rnd = [&] { return float((s = s * 1664525u + 1013904223u) >> 8) / float(1u << 24) - 0.5f; };
  t.w.resize(size_t(2 * C * C));
  for (float& v : t.w) v = rnd() * cls_scale;
  t.sel.ln_w.assign(size_t(C), 1.f), t.sel.ln_b.assign(size_t(C), 0.f);
  t.sel.q.w = WeightView::dense(DType::F32, t.w.data(), C, C);
  t.sel.k.w = WeightView::dense(DType::F32, t.w.data() + C * C, C, C);
  t.hidden.resize(size_t((N + 1) * C));
  for (float& v : t.hidden) v = rnd();
  return t;
}

TEST(PruMerge, AnyGridIsDefinedWhereTheAuthorsCodeWouldCrash) {
  for (int grid : {2, 3, 8, 24, 30}) {
    SCOPED_TRACE("grid " + std::to_string(grid));
    for (bool plus : {false, true}) {
      TinyTower t = tiny_tower(grid, 1.f);
      PruMergeTrace tr;
      const int64_t N = int64_t(grid) * grid;
      const std::vector<float> merged = prumerge(t.hidden.data(), t.hidden.data(), N, t.cfg, t.sel, plus, Precision::F32, &tr);
      EXPECT_EQ(merged.size(), (tr.kept.size() + 1) * 8);
      EXPECT_EQ(tr.kept.size() + tr.complement.size(), size_t(N));
      EXPECT_EQ(tr.neighbours.size(), tr.kept.size() * size_t(std::min<int64_t>(32, N - 1)));
      for (int64_t i : tr.kept) EXPECT_TRUE(i >= 0 && i < N);
    }
  }
}

TEST(PruMerge, NoOutliersKeepsOnlyTheSumOrTheGrid) {
  // Zero Q/K weights: every patch gets the same attention, so no value is above the fence.
  TinyTower t = tiny_tower(24, 0.f);
  for (bool plus : {false, true}) {
    PruMergeTrace tr;
    const std::vector<float> merged = prumerge(t.hidden.data(), t.hidden.data(), 576, t.cfg, t.sel, plus, Precision::F32, &tr);
    EXPECT_TRUE(tr.outliers.empty());
    // PruMerge: the extra row alone. PruMerge+: the grid of a single outlier (step 192), not a crash.
    EXPECT_EQ(tr.kept, plus ? std::vector<int64_t>({0, 192, 384}) : std::vector<int64_t>{});
    EXPECT_EQ(merged.size(), (tr.kept.size() + 1) * 8);
  }
}

TEST(PruMerge, ConfigValuesAndOverridesParse) {
  EXPECT_EQ(TokenSelection::parse("none").kind, TokenSelection::None);
  EXPECT_EQ(TokenSelection::parse("prumerge").kind, TokenSelection::PruMerge);
  EXPECT_EQ(TokenSelection::parse("prumerge+").kind, TokenSelection::PruMergePlus);
  const TokenSelection f = TokenSelection::parse("fastv:3,0.75");
  EXPECT_EQ(f.kind, TokenSelection::FastV);
  EXPECT_EQ(f.fastv_k, 3);
  EXPECT_EQ(f.fastv_r, 0.75);
  EXPECT_EQ(f.name(), "fastv:3,0.75");
  EXPECT_EQ(TokenSelection::parse("fastv").name(), "fastv:2,0.5");
  for (const char* bad : {"", "prune", "fastv:", "fastv:2", "fastv:0,0.5", "fastv:2,1", "fastv:2,-0.1", "fastv:x,0.5",
                          "fastv:2,0.5,1", "PruMerge"})
    EXPECT_THROW(TokenSelection::parse(bad), Error) << bad;
  EXPECT_THROW(TokenSelection::from_config("fastv", "c.json"), Error);
  try {
    TokenSelection::from_config("merge", "x/config.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("x/config.json: field token_selecting 'merge'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace adallava
