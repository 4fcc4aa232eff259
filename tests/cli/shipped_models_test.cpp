// The shipped models, models/adallava-tiny-L and models/adallava-tiny-H, on a fresh synthetic
// split (seed 4242, never used by the recipe; scenes drawn as the training set's): accuracy at
// full budget, budgets kept, a real cost at the lowest budget, and a scheduler that picks
// per input and beats the baselines where it has a choice. The README reports the measures on
// 1,000 records of another fresh split (scripts/recipe.sh: 90.6% and 90.0% at full budget; at
// 0.75 the scheduler 37.0 and 43.0 points over early exit and 7.5 and 8.2 over random plans, at
// 0.625 53.7 / 50.7 and 24.4 / 24.2). This split's 300 records keep the test short and measured
// 92.7% / 90.7% at full budget; at 0.75 +38.7 / +42.0 over early exit and +7.7 / +5.0 over random
// plans; at 0.625 +56.6 / +52.0 and +25.3 / +26.6. Each lead's bound sits at least one standard
// error (about 2 points for a difference on 300 records) under what was measured; the 90% the
// issue asks at full budget is that bar itself, 0.7 points under H's measure.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "cli/cli_test_util.h"
#include "test_util.h"

namespace adallava {
namespace {

namespace fs = std::filesystem;

const std::string kModels = ADALLAVA_MODELS_DIR;
const char* kFiles[] = {"config.json", "model.safetensors", "tokenizer.model", "preprocessor_config.json"};

TEST(ShippedModelsFiles, BothModelsAreCompleteAndSmall) {
  uintmax_t bytes = 0;
  for (const char* variant : {"L", "H"})
    for (const char* f : kFiles) {
      const fs::path p = fs::path(kModels) / (std::string("adallava-tiny-") + variant) / f;
      ASSERT_TRUE(fs::exists(p)) << p;
      bytes += fs::file_size(p);
    }
  EXPECT_LE(bytes, 25u * 1000 * 1000);
}

class ShippedModels : public ::testing::TestWithParam<const char*> {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir;
    const Result r = run_cli("synth --out " + dir_->file("fresh") +
                             " --n 1 --val 0 --test 300 --min-objects 1 --max-objects 3 --seed 4242");
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  // eval --json of the model on the fresh split, by (budget, plan).
  static std::map<std::pair<double, std::string>, nlohmann::json> eval(const std::string& model, const std::string& args) {
    const Result r = run_cli("eval -m " + model + " --data " + dir_->file("fresh/test.json") + " --images " +
                             dir_->file("fresh/images") + " " + args + " --json");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::map<std::pair<double, std::string>, nlohmann::json> res;
    if (r.exit_code != 0) return res;
    const nlohmann::json j = nlohmann::json::parse(r.out);  // kept: a loop over parse(...)[...] dangles
    for (const auto& x : j["results"]) res[{x["budget"].get<double>(), x["plan"].get<std::string>()}] = x;
    return res;
  }
  static test::TempDir* dir_;
};
test::TempDir* ShippedModels::dir_ = nullptr;

TEST_P(ShippedModels, AccurateAtFullBudgetAndTheSchedulerBeatsTheBaselinesBelow) {
  const std::string model = kModels + "/adallava-tiny-" + GetParam();
  auto res = eval(model, "--budgets 1,0.75,0.625,0.5 --plan scheduler,early-exit,random");
  ASSERT_EQ(res.size(), 12u);
  const auto at = [&](double b, const char* plan) -> const nlohmann::json& { return res[{b, plan}]; };
  const auto acc = [&](double b, const char* plan) { return at(b, plan)["accuracy"].get<double>(); };

  EXPECT_GE(acc(1, "scheduler"), 0.90);
  // Budgets hold to within the MLP groups' rounding: H's 512 neurons in 6 groups are groups of
  // 85 or 86, so a plan of the budget's unit count can run a few neurons (< 0.1%) over.
  for (const auto& [key, x] : res) EXPECT_LE(x["executed_fraction"].get<double>(), key.first + 1e-3) << x;
  // The trade-off is real: the lowest budget (the always-on prefix alone) costs accuracy.
  EXPECT_LE(acc(0.5, "scheduler"), acc(1, "scheduler") - 0.05);
  // 0.75 and 0.625 leave the scheduler a choice (8 layers, the first 4 always run); at 0.5 only
  // the prefix runs, whoever plans.
  for (double b : {0.75, 0.625}) {
    EXPECT_GE(acc(b, "scheduler"), acc(1, "scheduler") - 0.03) << "budget " << b;  // graceful
    EXPECT_GT(at(b, "scheduler")["distinct_plans"].get<int>(), 1) << "budget " << b;
    EXPECT_EQ(at(b, "early-exit")["distinct_plans"].get<int>(), 1) << "budget " << b;
  }
  for (double b : {0.75, 0.625}) EXPECT_GE(acc(b, "scheduler"), acc(b, "early-exit") + 0.05) << "budget " << b;
  EXPECT_GE(acc(0.75, "scheduler"), acc(0.75, "random") + 0.02);
  EXPECT_GE(acc(0.625, "scheduler"), acc(0.625, "random") + 0.05);
}

// eval --deadline-ms: each record a whole request with the deadline. A generous one buys the
// full model (the same answers as budget 1, none missed); one no plan can meet refuses every
// record (all missed, none answered); with --budgets it is a usage error.
TEST_P(ShippedModels, EvalWithADeadlinePerRecord) {
  const std::string model = kModels + "/adallava-tiny-" + GetParam();
  const std::string common = "eval -m " + model + " --data " + dir_->file("fresh/test.json") + " --images " +
                             dir_->file("fresh/images") + " --limit 40 --json";
  Result r = run_cli(common + " --deadline-ms 60000,0.001");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json d = nlohmann::json::parse(r.out)["results"];
  ASSERT_EQ(d.size(), 2u) << r.out;
  r = run_cli(common + " --budgets 1");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json full = nlohmann::json::parse(r.out)["results"][0];
  EXPECT_EQ(d[0]["plan"], "deadline");
  EXPECT_EQ(d[0]["deadline_ms"].get<double>(), 60000);
  EXPECT_EQ(d[0]["violation_rate"].get<double>(), 0);
  EXPECT_EQ(d[0]["budget"].get<double>(), 1);
  EXPECT_EQ(d[0]["accuracy"], full["accuracy"]);
  EXPECT_GT(d[0]["p95_ms"].get<double>(), 0);
  EXPECT_EQ(d[1]["violation_rate"].get<double>(), 1);
  EXPECT_EQ(d[1]["accuracy"].get<double>(), 0);
  expect_clean_error(run_cli(common + " --deadline-ms 100 --budgets 0.5"), "--deadline-ms");
  expect_clean_error(run_cli(common + " --deadline-ms 100,x"), "--deadline-ms element 'x' is not a number");
}

INSTANTIATE_TEST_SUITE_P(Variants, ShippedModels, ::testing::Values("L", "H"));

// The README's main command: one shipped model, one example image, a budget; the answer, the
// plan and the timings come back.
TEST(ShippedModelsRun, AnswersAboutAnExampleImageUnderABudget) {
  const Result r = run_cli("run -m " + kModels + "/adallava-tiny-L --image " + kModels +
                           "/examples/scene-1.png -p \"How many shapes are there?\" --budget 0.75 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_FALSE(j["text"].get<std::string>().empty()) << r.out;
  EXPECT_EQ(j["plan"]["executed_layers"].size(), 6u) << r.out;
  EXPECT_GT(j["timings_ms"]["total"].get<double>(), 0) << r.out;
}

}  // namespace
}  // namespace adallava
