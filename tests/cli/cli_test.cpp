// End-to-end tests of the adallava binary: outputs against the fixtures, and bad input giving
// a one-line error with a non-zero exit (never a crash).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "test_util.h"

namespace adallava {
namespace {

struct Result {
  int exit_code;
  std::string out, err;
};

std::string join_ids(const std::vector<int64_t>& ids) {
  std::string s;
  for (auto id : ids) s += (s.empty() ? "" : ",") + std::to_string(id);
  return s;
}

Result run_cli(const std::string& args) {
  test::TempDir d;
  const std::string cmd = std::string(ADALLAVA_BINARY) + " " + args + " >" + d.file("out") + " 2>" + d.file("err");
  int status = std::system(cmd.c_str());
  Result r{WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), test::read_file(d.file("out")),
           test::read_file(d.file("err"))};
  return r;
}

void expect_clean_error(const Result& r, const std::string& needle) {
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one line: " << r.err;
}

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

TEST(Cli, BadInputGetsOneLineErrors) {
  const std::string llava = test::fixture("llava_tiny_f32"), llama = test::fixture("llama_tiny_gqa_f32");
  expect_clean_error(run_cli("run -m /nonexistent/model --ids 1,2"), "/nonexistent/model");
  expect_clean_error(run_cli("run -m " + llava + " --ids 1,x,3"), "'x' is not an integer");
  expect_clean_error(run_cli("run -m " + llava + " --ids 1,99999"), "outside the vocabulary");
  expect_clean_error(run_cli("run -m " + llava + " -p hello"), "tokenizer.model");
  expect_clean_error(run_cli("run -m " + llava + " --image /nonexistent.png --ids 1,300"), "/nonexistent.png");
  expect_clean_error(run_cli("run -m " + llava + " --image " + llava + "/config.json --ids 1,300"), "not a decodable image");
  expect_clean_error(run_cli("run -m " + llava + " --ids 1,300,5"), "no image was given");
  expect_clean_error(run_cli("run -m " + llama + " --image " + llava + "/image.png --ids 1,2"), "no vision tower");
  std::vector<int64_t> long_prompt(600, 5);
  expect_clean_error(run_cli("run -m " + llama + " --ids " + join_ids(long_prompt)), "exceeds the model context");

  test::TempDir d;
  test::write_file(d.file("config.json"), R"({"model_type":"mamba"})");
  expect_clean_error(run_cli("run -m " + d.path + " --ids 1"), "unknown model_type 'mamba'");
  std::filesystem::copy_file(llama + "/config.json", d.file("config.json"), std::filesystem::copy_options::overwrite_existing);
  test::write_file(d.file("model.safetensors"), "xx");
  expect_clean_error(run_cli("run -m " + d.path + " --ids 1"), "model.safetensors");
}

}  // namespace
}  // namespace adallava
