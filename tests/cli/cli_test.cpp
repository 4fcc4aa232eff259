// End-to-end tests of the adallava binary: outputs against the fixtures, and bad input giving
// a one-line error with a non-zero exit (never a crash).
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli/cli_test_util.h"
#include "kernels/matmul.h"
#include "test_util.h"

namespace adallava {
namespace {

TEST(Cli, RunJsonGivesFixtureIdsAndTimings) {
  const std::string dir = test::fixture("llava_tiny_f32");
  const auto ids = test::npy_i64(dir + "/input_ids.npy");
  const auto want = test::npy_i64(dir + "/generated_ids.npy");
  Result r = run_cli("run -m " + dir + " --image " + dir + "/image.png --ids " + join_ids(ids) + " -n " +
                     std::to_string(want.size()) + " --ignore-eos --precision f32 -t 1 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["ids"].get<std::vector<int64_t>>(), want);
  EXPECT_TRUE(j.contains("text"));
  for (const char* k : {"vision", "prefill", "decode", "total"}) EXPECT_TRUE(j["timings_ms"].contains(k)) << k;
}

TEST(Cli, BenchMeasuresTheKernelSetAsked) {
  Result r = run_cli("bench --synthetic llava-tiny --kernels portable --prompt-tokens 8 --decode-tokens 2 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto k = nlohmann::json::parse(r.out)["kernels"];
  EXPECT_EQ(k["set"], "portable");
  EXPECT_TRUE(k["forced"].get<bool>());
  for (const char* op : {"gemm_f32", "gemm_bf16", "gemv_f32", "gemv_bf16", "attention"}) EXPECT_EQ(k["ops"][op], "portable") << op;
  r = run_cli("bench --synthetic llava-tiny --prompt-tokens 8 --decode-tokens 2 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  k = nlohmann::json::parse(r.out)["kernels"];
  EXPECT_EQ(k["set"], kernel_set_name(cpu_kernel_set()));
  EXPECT_FALSE(k["cpu"].get<std::string>().empty());
  if (cpu_kernel_set() < KernelSet::Amx)
    expect_clean_error(run_cli("bench --synthetic llava-tiny --kernels amx"), "runs at most");
  expect_clean_error(run_cli("bench --synthetic llava-tiny --kernels avx9"), "--kernels avx9: not a kernel set");
}

TEST(Cli, InfoListsTheKernelSetsOfThisCpu) {
  Result r = run_cli("info --kernel-sets");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string want;
  for (KernelSet k : cpu_kernel_sets()) want += std::string(kernel_set_name(k)) + "\n";
  EXPECT_EQ(r.out, want);
  r = run_cli("info --json --kernels portable");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["set"], "portable");
  EXPECT_EQ(j["cpu_kernel_sets"].size(), cpu_kernel_sets().size());
}

TEST(Cli, BadKernelSetInTheEnvironmentIsAOneLineError) {
  ::setenv("ADALLAVA_KERNELS", "avx9", 1);  // the child inherits it; this process chose its kernels already
  const Result r = run_cli("bench --synthetic llava-tiny --prompt-tokens 8 --decode-tokens 2");
  ::unsetenv("ADALLAVA_KERNELS");
  expect_clean_error(r, "ADALLAVA_KERNELS=avx9: not a kernel set");
}

TEST(Cli, LogitsWritesEveryPosition) {
  const std::string dir = test::fixture("llava_tiny_bf16");
  test::TempDir d;
  const auto ids = test::npy_i64(dir + "/input_ids.npy");
  Result r = run_cli("logits -m " + dir + " --image " + dir + "/image.png --ids " + join_ids(ids) +
                     " --precision f32 -o " + d.file("l.npy"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  NpyArray got = read_npy(d.file("l.npy"));
  EXPECT_EQ(got.shape, read_npy(dir + "/logits.npy").shape);
  EXPECT_TRUE(test::all_close(got.to_f32(), test::npy_f32(dir + "/logits.npy"), 1e-4, "logits"));
}

TEST(Cli, RunWithABudgetReportsThePlan) {
  for (const char* name : {"adallava_tiny_L", "adallava_tiny_H"}) {
    const std::string dir = test::fixture(name);
    const auto ids = test::npy_i64(dir + "/input_ids.npy");
    const auto budgets = read_npy(dir + "/budgets.npy").to_f64();
    const auto want = test::npy_i64(dir + "/generated_ids.npy");
    const auto plans = test::npy_i64(dir + "/execution_plan_summary.npy");
    const size_t n = want.size() / budgets.size(), b = 3, N = plans.size() / budgets.size();
    Result r = run_cli("run -m " + dir + " --image " + dir + "/image.png --ids " + join_ids(ids) + " -n " +
                       std::to_string(n) + " --ignore-eos --budget " + std::to_string(budgets[b]) + " --json");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["ids"].get<std::vector<int64_t>>(),
              std::vector<int64_t>(want.begin() + long(b * n), want.begin() + long((b + 1) * n)));
    EXPECT_EQ(j["units"].get<int64_t>(), test::npy_i64(dir + "/units.npy")[b]);
    EXPECT_EQ(j["plan_source"], "scheduler");
    // The logits the plan came from, as the authors' scheduler gives them (same bound as the
    // model-level fixture test of the scheduler).
    const auto sched = test::npy_f32(dir + "/scheduler_logits.npy");
    const size_t n_logits = sched.size() / budgets.size();
    const auto got = j["scheduler_logits"].get<std::vector<float>>();
    ASSERT_EQ(got.size(), n_logits);
    for (size_t i = 0; i < n_logits; ++i) EXPECT_NEAR(got[i], sched[b * n_logits + i], 1e-5) << i;
    std::vector<int> executed;
    for (size_t l = 0; l < N; ++l)
      if (plans[b * N + l] >= 0) executed.push_back(int(l));
    EXPECT_EQ(j["plan"]["executed_layers"].get<std::vector<int>>(), executed);
    ASSERT_EQ(j["plan"]["layers"].size(), executed.size());
    for (size_t i = 0; i < executed.size(); ++i)
      EXPECT_EQ(int64_t(j["plan"]["layers"][i]["heads"].size()), plans[b * N + size_t(executed[i])]);
    EXPECT_GT(j["executed_fraction"].get<double>(), 0.0);
    EXPECT_LE(j["executed_fraction"].get<double>(), budgets[b] + 1e-9);

    // Baselines with the same unit count, and an explicit layer list.
    for (const char* plan : {"early-exit", "random"}) {
      r = run_cli("run -m " + dir + " --ids " + join_ids(ids) + " --image " + dir +
                  "/image.png -n 2 --budget 0.75 --plan " + plan + " --json");
      ASSERT_EQ(r.exit_code, 0) << r.err;
      j = nlohmann::json::parse(r.out);
      EXPECT_EQ(j["plan_source"], plan);
      EXPECT_EQ(j["units"].get<int64_t>(), test::npy_i64(dir + "/units.npy")[b]);
    }
    r = run_cli("run -m " + dir + " --ids " + join_ids(ids) + " --image " + dir +
                "/image.png -n 2 --plan 0,1,2,3,7 --json");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(nlohmann::json::parse(r.out)["plan"]["executed_layers"].get<std::vector<int>>(),
              (std::vector<int>{0, 1, 2, 3, 7}));
  }
}

// A deadline in ms: the engine picks the budget, reports what it predicted and whether the
// request met it; a generous deadline buys the full model, an impossible one is refused before
// any work; bad values and a deadline with a budget are one-line errors.
TEST(Cli, RunWithADeadlinePicksTheBudgetAndReportsIt) {
  const std::string dir = test::fixture("adallava_tiny_L");
  const std::string common =
      "run -m " + dir + " --image " + dir + "/image.png --ids " + join_ids(test::npy_i64(dir + "/input_ids.npy")) +
      " -n 4 --ignore-eos --json";
  Result r = run_cli(common + " --deadline-ms 60000");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["deadline_ms"].get<double>(), 60000);
  EXPECT_EQ(j["budget"].get<double>(), 1.0);
  EXPECT_TRUE(j["met"].get<bool>());
  EXPECT_EQ(j["finish_reason"], "length");
  EXPECT_GT(j["predicted_ms"].get<double>(), 0);
  EXPECT_NEAR(j["predicted_timings_ms"]["total"].get<double>(), j["predicted_ms"].get<double>(), 1e-9);
  for (const char* phase : {"vision", "prefill", "decode"}) {
    EXPECT_GT(j["predicted_timings_ms"][phase].get<double>(), 0) << phase;
    EXPECT_GT(j["timings_ms"][phase].get<double>(), 0) << phase;
  }
  r = run_cli(common + " --deadline-ms 0.001");
  expect_clean_error(r, "deadline 0.001 ms cannot be met: the narrowest plan needs about");
  expect_clean_error(run_cli(common + " --deadline-ms 0"), "--deadline-ms 0 ms is not above 0");
  expect_clean_error(run_cli(common + " --deadline-ms -5"), "--deadline-ms");
  expect_clean_error(run_cli(common + " --deadline-ms soon"), "--deadline-ms 'soon' is not a number");
  expect_clean_error(run_cli(common + " --deadline-ms 100 --budget 0.5"), "--budget excludes --deadline-ms");
  // logits runs no request to time: it has no deadline to ignore.
  expect_clean_error(run_cli("logits -m " + dir + " --ids 1,2 --deadline-ms 100 -o " + dir + "/never.npy"),
                     "--deadline-ms");
}

TEST(Cli, TokenSelectionFromTheCheckpointOrTheFlag) {
  const std::string dir = test::fixture("adallava_tiny_L_prumerge_plus");
  const auto ids = test::npy_i64(dir + "/input_ids.npy");
  const auto want = test::npy_i64(dir + "/generated_ids.npy");
  const auto budgets = read_npy(dir + "/budgets.npy").to_f64();
  const size_t n = want.size() / budgets.size();
  const std::string common = "run -m " + dir + " --image " + dir + "/image.png --ids " + join_ids(ids) + " -n " +
                             std::to_string(n) + " --ignore-eos --json --budget " + std::to_string(budgets[1]);
  Result r = run_cli(common);  // the checkpoint says prumerge+
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["token_selection"], "prumerge+");
  EXPECT_EQ(j["image_tokens"].get<int>(), 124);
  EXPECT_EQ(j["ids"].get<std::vector<int64_t>>(), std::vector<int64_t>(want.begin() + long(n), want.begin() + long(2 * n)));
  r = run_cli(common + " --token-selection none");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["image_tokens"].get<int>(), 576);
  r = run_cli(common + " --token-selection fastv:2,0.75");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["image_tokens"].get<int>(), 576);
  EXPECT_EQ(j["image_tokens_kept"].get<int>(), 144);
  expect_clean_error(run_cli(common + " --token-selection prune"), "--token-selection: token selection 'prune' is not");
  expect_clean_error(run_cli(common + " --token-selection fastv:5,0.5"), "prefix");
  expect_clean_error(run_cli(common + " --token-selection fastv:2,1.5"), "must be in [0, 1)");

  // The bench: image rows kept and the prefill against the full-token one.
  r = run_cli("bench --synthetic ada-llava-tiny --token-selection prumerge+ --prompt-tokens 8 --decode-tokens 2 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  j = nlohmann::json::parse(r.out)["token_selection"];
  EXPECT_EQ(j["token_selection"], "prumerge+");
  EXPECT_LT(j["image_tokens_kept"].get<int>(), j["image_tokens"].get<int>());
  EXPECT_GT(j["prefill_ratio"].get<double>(), 0);
  EXPECT_LT(j["prefill_gflops_selected"].get<double>(), j["prefill_gflops_full"].get<double>());
}

TEST(Cli, BenchConcurrentReportsEveryLevelAgainstItsBaselines) {
  const Result r = run_cli(
      "bench --synthetic ada-llava-tiny --concurrent 1,3 --budgets mixed --prompt-tokens 4 --decode-tokens 2 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["results"].size(), 2u);
  const nlohmann::json& three = j["results"][1];
  EXPECT_EQ(three["concurrent"], 3);
  EXPECT_EQ(three["executed_fractions"].size(), 3u);
  for (const char* k : {"aggregate_decode_tokens_per_s", "one_at_a_time_decode_tokens_per_s",
                        "full_plan_aggregate_decode_tokens_per_s", "p50_token_ms", "p50_token_ms_alone"})
    EXPECT_GT(three[k].get<double>(), 0) << k;
  // Budgets 1, 0.75 and 0.5 batched read the union of their plans once for three tokens.
  EXPECT_LT(three["weight_bytes_per_token_over_batch1"].get<double>(), 1.0);
  EXPECT_EQ(j["results"][0]["weight_bytes_per_token_over_batch1"].get<double>(), 1.0);
  expect_clean_error(run_cli("bench --synthetic ada-llava-tiny --concurrent 0"), "--concurrent: '0' is not a request count");
  expect_clean_error(run_cli("bench --synthetic ada-llava-tiny --concurrent 2,x"), "--concurrent: 'x' is not");
  expect_clean_error(run_cli("bench --synthetic llava-tiny --concurrent 2 --budgets mixed"), "needs an AdaLLaVA preset");
}

TEST(Cli, LogitsWithABudgetIncludeTheLatencyToken) {
  const std::string dir = test::fixture("adallava_tiny_H");
  test::TempDir d;
  const auto ids = test::npy_i64(dir + "/input_ids.npy");
  const auto budgets = read_npy(dir + "/budgets.npy").to_f64();
  const auto want = test::npy_f32(dir + "/prefill_logits.npy");
  const size_t b = 4, per = want.size() / budgets.size();
  Result r = run_cli("logits -m " + dir + " --image " + dir + "/image.png --ids " + join_ids(ids) + " --budget " +
                     std::to_string(budgets[b]) + " -o " + d.file("l.npy"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(test::all_close(read_npy(d.file("l.npy")).to_f32(),
                              std::vector<float>(want.begin() + long(b * per), want.begin() + long((b + 1) * per)),
                              1e-4, "logits"));
}

TEST(Cli, BadInputGetsOneLineErrors) {
  const std::string llava = test::fixture("llava_tiny_f32"), llama = test::fixture("llama_tiny_gqa_f32");
  expect_clean_error(run_cli("run -m /nonexistent/model --ids 1,2"), "/nonexistent/model");
  expect_clean_error(run_cli("run -m " + llava + " --ids 1,x,3"), "'x' is not an integer");
  expect_clean_error(run_cli("run -m " + llava + " --ids 1,99999"), "outside the vocabulary");
  expect_clean_error(run_cli("run -m " + llava + " -p hello"), "tokenizer.model");
  expect_clean_error(run_cli("run -m " + llava + " --image /nonexistent.png --ids 1,300"), "/nonexistent.png");
  expect_clean_error(run_cli("run -m " + llava + " --image " + llava + "/config.json --ids 1,300"),
                     "not a decodable image");
  expect_clean_error(run_cli("run -m " + llava + " --ids 1,300,5"), "no image was given");
  expect_clean_error(run_cli("run -m " + llama + " --image " + llava + "/image.png --ids 1,2"), "no vision tower");
  std::vector<int64_t> long_prompt(600, 5);
  expect_clean_error(run_cli("run -m " + llama + " --ids " + join_ids(long_prompt)), "exceeds the model context");

  const std::string ada = test::fixture("adallava_tiny_L");
  expect_clean_error(run_cli("run -m " + ada + " --ids 1,2 --budget 1.5"), "--budget 1.5 is outside [0, 1]");
  expect_clean_error(run_cli("run -m " + ada + " --ids 1,2 --budget fast"), "--budget 'fast' is not a number");
  expect_clean_error(run_cli("run -m " + ada + " --ids 1,2 --plan sometimes"), "--plan 'sometimes'");
  expect_clean_error(run_cli("run -m " + ada + " --ids 1,2 --plan 0,9"), "plan layer 9 is outside");
  expect_clean_error(run_cli("run -m " + llava + " --ids 1,2 --budget 0.5"), "needs an AdaLLaVA checkpoint");
  expect_clean_error(run_cli("run -m " + llava + " --ids 1,2 --plan random"), "needs an AdaLLaVA checkpoint");
  expect_clean_error(run_cli("bench --synthetic llava-tiny --budgets 0.5"), "needs an AdaLLaVA preset");

  // train: bad data is named; a checkpoint without a tokenizer is named.
  {
    test::TempDir t;
    test::write_file(t.file("bad.json"),
                     R"([{"id": "q7", "image": "x.png", "conversations": [{"from": "human", "value": "hi"}]}])");
    expect_clean_error(
        run_cli("train -m " + ada + " --data " + t.file("bad.json") + " --images " + t.path + " --out " + t.file("o")),
        "tokenizer.model");
    expect_clean_error(run_cli("train -m " + llava + " --data " + t.file("bad.json") + " --images " + t.path +
                               " --out " + t.file("o")),
                       "original LLaVA layout");
    expect_clean_error(run_cli("train -m " + ada + " --data " + t.file("bad.json") + " --images " + t.path + " --out " +
                               t.file("o") + " --train everything"),
                       "--train");
  }

  test::TempDir d;
  test::write_file(d.file("config.json"), R"({"model_type":"mamba"})");
  expect_clean_error(run_cli("run -m " + d.path + " --ids 1"), "unknown model_type 'mamba'");
  std::filesystem::copy_file(llama + "/config.json", d.file("config.json"),
                             std::filesystem::copy_options::overwrite_existing);
  test::write_file(d.file("model.safetensors"), "xx");
  expect_clean_error(run_cli("run -m " + d.path + " --ids 1"), "model.safetensors");

  // An AdaLLaVA config that contradicts itself is refused at load, naming the field.
  test::TempDir a;
  for (const char* f : {"model.safetensors"}) std::filesystem::copy_file(ada + "/" + f, a.file(f));
  std::filesystem::copy(ada + "/clip_vision_tower", a.file("clip_vision_tower"),
                        std::filesystem::copy_options::recursive);
  auto cfg = nlohmann::json::parse(test::read_file(ada + "/config.json"));
  cfg["num_prefix_layers"] = 12;
  test::write_file(a.file("config.json"), cfg.dump());
  expect_clean_error(run_cli("run -m " + a.path + " --ids 1,2"), "num_prefix_layers = 12");
  cfg["num_prefix_layers"] = 4;
  cfg["scheduler_type"] = "H";
  cfg["scheduler_rank"] = 3;
  test::write_file(a.file("config.json"), cfg.dump());
  expect_clean_error(run_cli("run -m " + a.path + " --ids 1,2"), "scheduler_rank = 3");
  cfg["scheduler_rank"] = 2;  // H now, but the checkpoint's head is L-sized
  test::write_file(a.file("config.json"), cfg.dump());
  expect_clean_error(run_cli("run -m " + a.path + " --ids 1,2"), "scheduler.mlp_head.weight");
}

}  // namespace
}  // namespace adallava
