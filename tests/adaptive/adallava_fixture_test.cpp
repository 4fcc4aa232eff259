// AdaLLaVA against the authors' released code, for every fixture folder of model_type
// ada_llava_llama (any size, L or H): unit tables, latency encoder, scheduler, plans, the
// decoder under each plan, and greedy generation. Plans, prefill logits and generation run for
// the token-selection fixtures too (their checkpoints say token_selecting; the selection's own
// values are checked in tests/model/prumerge_test.cpp); the other checks use files only the
// full-token fixtures record. Tolerances (fixtures/README): logits 1e-4,
// intermediate states 5e-5, latency token and scheduler logits 1e-5; units, plans and ids exact.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "adaptive/budget.h"
#include "adaptive/latency_encoder.h"
#include "generate/session.h"
#include "llava/llava.h"
#include "test_util.h"

namespace adallava {
namespace {

using test::all_close;
using test::npy_f32;
using test::manifest;
using test::npy_i64;

constexpr double kLogitsAtol = 1e-4;
constexpr double kStateAtol = 5e-5;
constexpr double kEncoderAtol = 1e-5;

std::vector<float> row(const std::vector<float>& v, size_t i, size_t n) {
  return std::vector<float>(v.begin() + long(i * n), v.begin() + long((i + 1) * n));
}

DType dtype_named(const std::string& s) {
  return s == "f16" ? DType::F16 : s == "bf16" ? DType::BF16 : DType::F32;
}

struct Fixture {
  std::string dir;
  std::unique_ptr<LlavaModel> model;
  std::vector<double> budgets;
  std::vector<int64_t> ids;
  std::vector<float> pixels;
};

enum class Which { All, FullTokens };

std::vector<Fixture> load_fixtures(Which which = Which::FullTokens) {
  std::vector<Fixture> out;
  std::vector<std::string> dirs = test::fixtures_of_type("ada_llava_llama");
  if (which == Which::All)
    for (const std::string& d : test::fixtures_of_type("ada_llava_llama", true)) dirs.push_back(d);
  for (const std::string& dir : dirs) {
    Fixture f{dir, LlavaModel::load(dir), read_npy(dir + "/budgets.npy").to_f64(), npy_i64(dir + "/input_ids.npy"),
              npy_f32(dir + "/pixel_values.npy")};
    out.push_back(std::move(f));
  }
  return out;
}

TEST(AdaLlavaFixture, ConfigAndUnitGridMatchTheAuthorsCode) {
  auto fixtures = load_fixtures();
  ASSERT_FALSE(fixtures.empty()) << "no ada_llava_llama fixtures under " << test::fixtures_dir();
  for (const Fixture& f : fixtures) {
    SCOPED_TRACE(f.dir);
    const AdaLlavaParts* ada = f.model->adaptive();
    ASSERT_NE(ada, nullptr);
    const nlohmann::json m = manifest(f.dir)["model"];
    AdaConfig a = ada->config;
    EXPECT_EQ(a.prefix_units, m["units_P"].get<int>());
    EXPECT_EQ(a.total_units, m["units_T"].get<int>());
    EXPECT_EQ(a.max_units() + 1, m["encoder_divisor"].get<int>());
    const TextConfig& t = f.model->config().text;
    for (int g = 0; g < t.num_heads; ++g) {
      auto [b, e] = mlp_group_range(t.intermediate_size, t.num_heads, g);
      EXPECT_EQ(b, m["mlp_group_offsets"][size_t(g)].get<int64_t>());
      EXPECT_EQ(e - b, m["mlp_group_sizes"][size_t(g)].get<int64_t>());
    }

    // Units over the budget grid, in each dtype the released code can quantize in.
    const std::vector<double> grid = read_npy(f.dir + "/budget_grid.npy").to_f64();
    for (const char* dt : {"f32", "f16", "bf16"}) {
      a.budget_dtype = dtype_named(dt);
      const auto want_units = npy_i64(f.dir + "/units_grid_" + std::string(dt) + ".npy");
      const auto want_q = npy_f32(f.dir + "/encoder_input_grid_" + std::string(dt) + ".npy");
      for (size_t i = 0; i < grid.size(); ++i) {
        const int u = budget_units(grid[i], a);
        ASSERT_EQ(u, want_units[i]) << dt << " budget " << grid[i];
        ASSERT_EQ(encoder_input(u, a), want_q[i]) << dt << " budget " << grid[i];
      }
    }
    // The real model sizes (L-7B, H-7B, L-13B), where the fixture has them.
    if (std::ifstream(f.dir + "/units_grid_reference_sizes.npy")) {
      const auto rows = npy_i64(f.dir + "/units_grid_reference_sizes.npy");
      const nlohmann::json all = manifest(f.dir);
      for (const auto& r : all["units_grid"]["reference_sizes"]) {
        AdaConfig big;
        big.prefix_units = r["P"].get<int>();
        big.total_units = r["T"].get<int>();
        big.budget_dtype = dtype_named(r["dtype"].get<std::string>());
        const size_t k = r["row"].get<size_t>();
        for (size_t i = 0; i < grid.size(); ++i)
          ASSERT_EQ(budget_units(grid[i], big), rows[k * grid.size() + i])
              << r["model"].get<std::string>() << " " << r["dtype"].get<std::string>() << " budget " << grid[i];
      }
    }
  }
}

TEST(AdaLlavaFixture, LatencyEncoderMatches) {
  for (const Fixture& f : load_fixtures()) {
    SCOPED_TRACE(f.dir);
    const AdaLlavaParts& ada = *f.model->adaptive();
    const int H = f.model->decoder().hidden();
    const auto units = npy_i64(f.dir + "/units.npy");
    const auto q = npy_f32(f.dir + "/encoder_input.npy");
    const auto x = npy_f32(f.dir + "/encoder_scaled.npy");
    const auto enc = npy_f32(f.dir + "/latency_encoding_256.npy");
    const auto tok = npy_f32(f.dir + "/latency_token_embedding.npy");
    for (size_t b = 0; b < f.budgets.size(); ++b) {
      const int u = budget_units(f.budgets[b], ada.config);
      EXPECT_EQ(u, units[b]) << "budget " << f.budgets[b];
      EXPECT_EQ(encoder_input(u, ada.config), q[b]);
      EXPECT_NEAR(encoder_angle(encoder_input(u, ada.config), ada.config), x[b], 1e-6);
      EXPECT_TRUE(all_close(latency_encoding(u, ada.config), row(enc, b, kLatencyEncodingDim), kEncoderAtol,
                            "latency encoding"));
      EXPECT_TRUE(all_close(std::vector<float>(ada.encoder.token(u), ada.encoder.token(u) + H), row(tok, b, size_t(H)),
                            kEncoderAtol, "latency token"));
    }
    const auto table = npy_f32(f.dir + "/latency_token_embedding_table.npy");
    ASSERT_EQ(table.size(), size_t(ada.config.max_units() + 1) * size_t(H));
    EXPECT_TRUE(all_close(std::vector<float>(ada.encoder.token(0), ada.encoder.token(0) + table.size()), table,
                          kEncoderAtol, "latency token table"));
  }
}

TEST(AdaLlavaFixture, SchedulerPlansAndPrefillLogitsMatchForEveryBudget) {
  const auto fixtures = load_fixtures(Which::All);
  EXPECT_GE(fixtures.size(), 6u) << "L and H, without and with prumerge and prumerge+";
  for (const Fixture& f : fixtures) {
    SCOPED_TRACE(f.dir);
    const TextConfig& t = f.model->config().text;
    const int H = t.hidden_size, V = t.vocab_size;
    const auto sched_in = npy_f32(f.dir + "/scheduler_input.npy");
    const auto sched_logits = npy_f32(f.dir + "/scheduler_logits.npy");
    const auto plans = npy_f32(f.dir + "/execution_plan.npy");
    const auto summary = npy_i64(f.dir + "/execution_plan_summary.npy");
    const auto prefill = npy_f32(f.dir + "/prefill_logits.npy");
    const size_t plan_size = size_t(t.num_layers) * 2 * size_t(t.num_heads);
    const size_t n_logits = sched_logits.size() / f.budgets.size();
    for (size_t b = 0; b < f.budgets.size(); ++b) {
      SCOPED_TRACE("budget " + std::to_string(f.budgets[b]));
      PlanRequest req;
      req.budget = f.budgets[b];
      PlanReport rep;
      int64_t rows = 0;
      const auto logits = all_logits(*f.model, f.ids, f.pixels.data(), Precision::F32, req, &rows, &rep);
      EXPECT_TRUE(all_close(rep.scheduler_input, row(sched_in, b, size_t(H)), kStateAtol, "scheduler input"));
      EXPECT_TRUE(all_close(rep.scheduler_logits, row(sched_logits, b, n_logits), kEncoderAtol, "scheduler logits"));
      EXPECT_EQ(rep.plan.to_mask(), row(plans, b, plan_size)) << "plan";
      // The plan asked for alone (prefix layers only) is the plan the prefill ran.
      const PlanReport alone = prompt_plan(*f.model, f.ids, f.pixels.data(), Precision::F32, req);
      EXPECT_EQ(alone.plan.to_mask(), rep.plan.to_mask()) << "plan alone";
      EXPECT_EQ(alone.scheduler_logits, rep.scheduler_logits);
      EXPECT_EQ(alone.executed_fraction, rep.executed_fraction);
      // Plans straight from the reference logits too (selection alone, no float noise).
      EXPECT_EQ(plan_from_scheduler(row(sched_logits, b, n_logits), rep.units, f.model->adaptive()->config,
                                    t.num_layers, t.num_heads)
                    .to_mask(),
                row(plans, b, plan_size));
      for (int l = 0; l < t.num_layers; ++l)
        EXPECT_EQ(rep.plan.runs(l) ? int64_t(rep.plan.layer(l).heads.size()) : -1,
                  summary[b * size_t(t.num_layers) + size_t(l)]);
      EXPECT_EQ(rows * V, int64_t(logits.size()));
      EXPECT_TRUE(all_close(logits, row(prefill, b, logits.size()), kLogitsAtol, "prefill logits"));
    }
  }
}

TEST(AdaLlavaFixture, ResidualStreamUnderAPlanMatches) {
  for (const Fixture& f : load_fixtures()) {
    SCOPED_TRACE(f.dir);
    const LlamaDecoder& d = f.model->decoder();
    const int64_t H = d.hidden(), N = d.config().num_layers;
    const std::vector<float> features = f.model->encode_image(f.pixels.data(), Precision::F32);
    const std::vector<float> embeds = f.model->merge_embeddings(f.ids, &features);
    const auto want = npy_f32(f.dir + "/llm_residual_stream_b0p75.npy");  // [N + 1, T + 1, H]
    const int64_t T = int64_t(embeds.size()) / H;
    EXPECT_TRUE(all_close(embeds, std::vector<float>(want.begin(), want.begin() + T * H), kStateAtol, "merged input"));
    Session s(*f.model, T + 1, Precision::F32);
    PlanRequest req;
    req.budget = 0.75;
    std::vector<float> logits, outputs;
    s.prefill(embeds.data(), T, req, logits, false, &outputs);
    EXPECT_TRUE(all_close(outputs, std::vector<float>(want.begin() + (T + 1) * H, want.end()), kStateAtol,
                          "residual stream after every layer"));
    (void)N;
  }
}

TEST(AdaLlavaFixture, GreedyGenerationMatchesWithThePlanReused) {
  for (const Fixture& f : load_fixtures(Which::All)) {
    SCOPED_TRACE(f.dir);
    const TextConfig& t = f.model->config().text;
    const auto want_ids = npy_i64(f.dir + "/generated_ids.npy");
    const auto want_steps = npy_f32(f.dir + "/generate_step_logits.npy");
    const size_t n = want_ids.size() / f.budgets.size(), V = size_t(t.vocab_size);
    for (size_t b = 0; b < f.budgets.size(); ++b) {
      SCOPED_TRACE("budget " + std::to_string(f.budgets[b]));
      GenerateOptions g;
      g.max_new_tokens = int(n);
      g.ignore_eos = true;
      g.plan.budget = f.budgets[b];
      GenerateResult r = generate(*f.model, f.ids, f.pixels.data(), g, /*keep_step_logits=*/true);
      EXPECT_EQ(r.ids, std::vector<int64_t>(want_ids.begin() + long(b * n), want_ids.begin() + long((b + 1) * n)));
      ASSERT_EQ(r.step_logits.size(), n);
      for (size_t s = 0; s < n; ++s)
        EXPECT_TRUE(
            all_close(r.step_logits[s], row(want_steps, b * n + s, V), kLogitsAtol, "step " + std::to_string(s)));
      EXPECT_EQ(r.prompt_rows, int64_t(npy_i64(f.dir + "/input_ids_merged.npy").size()));
    }
  }
}

TEST(AdaLlavaFixture, HandcraftedPlanLogitsMatch) {
  for (const Fixture& f : load_fixtures()) {
    SCOPED_TRACE(f.dir);
    const TextConfig& t = f.model->config().text;
    const auto mask = npy_f32(f.dir + "/handcrafted_plan.npy");
    PlanRequest req;  // latency token of b = 1.0
    req.policy.kind = PlanPolicy::Fixed;
    req.policy.plan = ExecutionPlan::from_mask(mask.data(), t.num_layers, t.num_heads);
    int64_t rows = 0;
    const auto logits = all_logits(*f.model, f.ids, f.pixels.data(), Precision::F32, req, &rows);
    EXPECT_TRUE(all_close(logits, npy_f32(f.dir + "/handcrafted_plan_logits_slice.npy"), kLogitsAtol, "slice path"));
    EXPECT_TRUE(all_close(logits, npy_f32(f.dir + "/handcrafted_plan_logits_masked.npy"), kLogitsAtol, "masked path"));
  }
}

}  // namespace
}  // namespace adallava
