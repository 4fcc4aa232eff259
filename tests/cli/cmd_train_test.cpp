// End-to-end tests of `adallava train`: a run from an AdaLLaVA checkpoint writes a checkpoint
// that `run` loads (with the loss as CSV and a plot), and --variant turns a plain LLaVA
// checkpoint into AdaLLaVA, here with the vision tower trained too (a self-contained folder).
#include <gtest/gtest.h>

#include <cstring>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli/cli_test_util.h"
#include "io/safetensors.h"
#include "test_util.h"
#include "text/tokenizer_trainer.h"

namespace adallava {
namespace {

namespace fs = std::filesystem;

// A model folder in `dir` that reuses the fixture's weights and tower, with model_type as given
// and a tokenizer of the fixture's vocabulary size trained on the data's text (the fixtures ship
// none that fits their vocabulary).
void make_model(const std::string& fixture, const std::string& dir, const std::string& model_type,
                const std::vector<std::string>& text) {
  fs::create_directories(dir);
  nlohmann::json cfg = nlohmann::json::parse(test::read_file(fixture + "/config.json"));
  cfg["model_type"] = model_type;
  test::write_file(dir + "/config.json", cfg.dump());
  fs::create_symlink(fixture + "/model.safetensors", dir + "/model.safetensors");
  const std::string tower = cfg["mm_vision_tower"].get<std::string>();
  fs::create_directory_symlink(fixture + "/" + tower, dir + "/" + tower);
  train_tokenizer(text, TokenizerTrainOptions{cfg["vocab_size"].get<int>(), true}, dir + "/tokenizer.model");
}

struct Data {
  std::string json, images;
  std::vector<std::string> text;
};

Data make_data(const std::string& dir, const std::string& image) {
  const std::vector<std::pair<std::string, std::string>> qa = {
      {"What colour is the square?", "red"}, {"Is there a circle?", "yes"}, {"How many shapes are there?", "two"},
      {"What shape is left of the circle?", "square"}, {"Is the square blue?", "no"}};
  Data d{dir + "/data.json", dir + "/images", {}};
  fs::create_directories(d.images);
  fs::copy_file(image, d.images + "/scene.png");
  nlohmann::json records = nlohmann::json::array();
  for (size_t i = 0; i < qa.size(); ++i) {
    std::string id = "q";  // (not "q" + to_string: GCC 12 warns falsely on that)
    id += std::to_string(i);
    records.push_back({{"id", id},
                       {"image", "scene.png"},
                       {"conversations",
                        {{{"from", "human"}, {"value", "<image>\n" + qa[i].first}}, {{"from", "gpt"}, {"value", qa[i].second}}}}});
    d.text.push_back(qa[i].first);
    d.text.push_back(qa[i].second);
  }
  d.text.push_back("A chat between a curious user and an artificial intelligence assistant. USER: ASSISTANT:");
  test::write_file(d.json, records.dump());
  return d;
}

// The common setup: the data on the fixture's image, a model folder in t/model on the fixture's
// weights, and the start of a train command on both.
struct TrainSetup {
  Data d;
  std::string model, train;  // train: "train -m MODEL --data JSON --images IMAGES"
};

TrainSetup make_setup(const test::TempDir& t, const std::string& fixture_name) {
  const std::string fixture = test::fixture(fixture_name);
  TrainSetup s{make_data(t.file("data"), fixture + "/image.png"), t.file("model"), ""};
  make_model(fixture, s.model, "ada_llava_llama", s.d.text);
  s.train = "train -m " + s.model + " --data " + s.d.json + " --images " + s.d.images;
  return s;
}

int csv_rows(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  int n = -1;  // header
  while (std::getline(in, line)) ++n;
  return n;
}

TEST(CmdTrain, TrainsAnAdaLlavaCheckpointThatRunLoads) {
  test::TempDir t;
  const TrainSetup s = make_setup(t, "adallava_tiny_L");
  Result r = run_cli(s.train + " --out " + t.file("out") + " --epochs 2 --batch 2 --lr 1e-3 --seed 3 -t 1");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(csv_rows(t.file("out/loss.csv")), 5);  // ceil(2 × 5 / 2)
  EXPECT_NE(test::read_file(t.file("out/loss.svg")).find("mean cross-entropy"), std::string::npos);
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.model", "trainer_state.json"})
    EXPECT_TRUE(fs::exists(t.file("out/") + f)) << f;
  r = run_cli("run -m " + t.file("out") + " --image " + s.d.images +
              "/scene.png -p \"Is there a circle?\" -n 3 --budget 0.5 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["budget"].get<double>(), 0.5);
  EXPECT_LT(j["executed_fraction"].get<double>(), 1.0);
}

// A run stopped part way (--stop-after) and continued with --resume writes the same checkpoint
// bytes as the run in one go, and its loss.csv has every step once. From a bf16 checkpoint too:
// the saved f32 weights must not change how the resumed run rounds its budgets.
class CmdTrainResume : public ::testing::TestWithParam<const char*> {};

TEST_P(CmdTrainResume, StoppedAndResumedRunEqualsOneRun) {
  test::TempDir t;
  const TrainSetup s = make_setup(t, "adallava_tiny_L");
  const std::string dtype = GetParam(), model = t.file("model-" + dtype);
  Result r = run_cli("convert -m " + s.model + " --out " + model + " --dtype " + dtype);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string common = "train -m " + model + " --data " + s.d.json + " --images " + s.d.images +
                             " --steps 4 --batch 2 --lr 1e-3 --seed 3 --save-every 1";
  r = run_cli(common + " --out " + t.file("once"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_cli(common + " --out " + t.file("twice") + " --stop-after 2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(csv_rows(t.file("twice/loss.csv")), 2);
  r = run_cli(common + " --out " + t.file("twice") + " --resume");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(test::read_file(t.file("once/model.safetensors")), test::read_file(t.file("twice/model.safetensors")));
  EXPECT_EQ(test::read_file(t.file("once/loss.csv")), test::read_file(t.file("twice/loss.csv")));
}

INSTANTIATE_TEST_SUITE_P(Dtypes, CmdTrainResume, ::testing::Values("f32", "bf16"));

// --tau shapes the straight-through gradient only: the same first step samples the same plans
// (same loss) and moves the weights differently.
TEST(CmdTrain, TauChangesTheGradientNotThePlans) {
  test::TempDir t;
  const std::string common =
      make_setup(t, "adallava_tiny_L").train + " --steps 1 --batch 2 --lr 1e-3 --seed 3 --train scheduler";
  Result r = run_cli(common + " --out " + t.file("tau5"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_cli(common + " --tau 1 --out " + t.file("tau1"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto loss = [&](const std::string& dir) {
    std::ifstream in(t.file(dir + "/loss.csv"));
    std::string header, row;
    std::getline(in, header), std::getline(in, row);
    return row.substr(0, row.find(',', row.find(',') + 1));  // step,loss
  };
  ASSERT_NE(loss("tau5").find("1,"), std::string::npos);
  EXPECT_EQ(loss("tau5"), loss("tau1"));
  EXPECT_NE(test::read_file(t.file("tau5/model.safetensors")), test::read_file(t.file("tau1/model.safetensors")));
  r = run_cli(common + " --tau 0 --out " + t.file("tau0"));
  EXPECT_EQ(r.exit_code, 1);  // CLI11 rejects it: what is wrong is named
  EXPECT_NE(r.err.find("--tau"), std::string::npos) << r.err;
}

// --train scheduler-exact trains the scheduler's head alone (the checkpoint's LLM and latency
// encoder bytes stay as they were) and is an error, naming the checkpoint, on AdaLLaVA-H.
TEST(CmdTrain, SchedulerExactTrainsTheHeadOnlyAndNeedsTheLVariant) {
  test::TempDir t;
  const Data d = make_data(t.file("data"), test::fixture("adallava_tiny_L") + "/image.png");
  make_model(test::fixture("adallava_tiny_L"), t.file("L"), "ada_llava_llama", d.text);
  make_model(test::fixture("adallava_tiny_H"), t.file("H"), "ada_llava_llama", d.text);
  const std::string args = " --data " + d.json + " --images " + d.images + " --steps 2 --batch 2 --lr 1e-2 --train scheduler-exact";
  Result r = run_cli("train -m " + t.file("L") + args + " --out " + t.file("out"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const TensorStore before = TensorStore::open_dir(t.file("L")), after = TensorStore::open_dir(t.file("out"));
  int changed = 0, compared = 0;
  for (const auto& [name, a] : after.records()) {
    const TensorRecord* b = before.find(name);
    if (!b) continue;  // the tower, embedded in the output
    ASSERT_EQ(a.dtype_name, b->dtype_name) << name;
    const bool same = a.nbytes == b->nbytes && std::memcmp(a.data, b->data, a.nbytes) == 0;
    ++compared;
    if (name.rfind("scheduler.mlp_head.", 0) == 0) changed += !same;
    else EXPECT_TRUE(same) << name;
  }
  EXPECT_GT(compared, 10);
  EXPECT_EQ(changed, 2);  // weight and bias
  r = run_cli("train -m " + t.file("H") + args + " --out " + t.file("outH"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("scheduler-exact needs an AdaLLaVA-L checkpoint"), std::string::npos) << r.err;
  // Scored by the answer error (a fixture that answers nothing right: the head gets no gradient).
  r = run_cli("train -m " + t.file("L") + args + " --plan-score answer-error --out " + t.file("error"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(test::read_file(t.file("error/loss.csv")).find("\n1,1"), std::string::npos);  // step 1: error 1
  EXPECT_NE(test::read_file(t.file("error/loss.svg")).find("expected answer error"), std::string::npos);
  expect_clean_error(run_cli("train -m " + t.file("L") + " --data " + d.json + " --images " + d.images +
                             " --steps 1 --train scheduler --plan-score answer-error --out " + t.file("bad")),
                     "--plan-score");
}

// Several --data files train as one set: the records of a file split in two, given in order,
// train the same checkpoint bytes as the whole file; a missing second file is named.
TEST(CmdTrain, SeveralDataFilesTrainAsOneSet) {
  test::TempDir t;
  const TrainSetup s = make_setup(t, "adallava_tiny_L");
  const Data& d = s.d;
  const auto all = nlohmann::json::parse(test::read_file(d.json));
  test::write_file(t.file("first.json"), nlohmann::json(std::vector<nlohmann::json>(all.begin(), all.begin() + 2)).dump());
  test::write_file(t.file("rest.json"), nlohmann::json(std::vector<nlohmann::json>(all.begin() + 2, all.end())).dump());
  const std::string common = "train -m " + s.model + " --images " + d.images + " --epochs 2 --batch 2 --lr 1e-3 --seed 3 -t 1";
  Result r = run_cli(common + " --data " + d.json + " --out " + t.file("one"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_cli(common + " --data " + t.file("first.json") + " " + t.file("rest.json") + " --out " + t.file("two"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(csv_rows(t.file("two/loss.csv")), 5);  // ceil(2 × (2 + 3) / 2)
  EXPECT_EQ(test::read_file(t.file("one/model.safetensors")), test::read_file(t.file("two/model.safetensors")));
  r = run_cli(common + " --data " + t.file("first.json") + " " + t.file("missing.json") + " --out " + t.file("bad"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("missing.json"), std::string::npos) << r.err;
}

TEST(CmdTrain, VariantTurnsPlainLlavaIntoASelfContainedAdaLlava) {
  const std::string fixture = test::fixture("adallava_tiny_H");
  test::TempDir t;
  const Data d = make_data(t.file("data"), fixture + "/image.png");
  make_model(fixture, t.file("plain"), "llava_llama", d.text);
  Result r = run_cli("train -m " + t.file("plain") + " --data " + d.json + " --images " + d.images + " --out " +
                     t.file("out") + " --steps 2 --variant H --prefix 1 --rank 1 --train all -t 1");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto out = nlohmann::json::parse(test::read_file(t.file("out/config.json")));
  EXPECT_EQ(out["model_type"], "ada_llava_llama");
  EXPECT_EQ(out["scheduler_type"], "H");
  EXPECT_EQ(out["num_prefix_layers"], 1);
  EXPECT_EQ(out["scheduler_rank"], 1);
  EXPECT_TRUE(out.contains("vision_config"));
  // Self-contained: the tower folder the plain model pointed to is gone, and run still works.
  fs::remove_all(t.file("plain"));
  r = run_cli("run -m " + t.file("out") + " --image " + d.images + "/scene.png -p \"Is there a circle?\" -n 2 --budget 0.6 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["plan_source"], "scheduler");

  expect_clean_error(run_cli("train -m " + t.file("out") + " --data " + d.json + " --images " + d.images + " --out " +
                             t.file("again") + " --steps 1 --variant L"),
                     "AdaLLaVA already");
  expect_clean_error(run_cli("train -m " + t.file("out") + " --data " + d.json + " --images " + d.images + " --out " +
                             t.file("again") + " --steps 1 --epochs 1"),
                     "--epochs");
}

TEST(CmdConvert, Bf16CopyLoadsRunsAndIsHalfTheSize) {
  const std::string fixture = test::fixture("adallava_tiny_L");
  test::TempDir t;
  Result r = run_cli("convert -m " + fixture + " --out " + t.file("bf16") + " --dtype bf16");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(test::read_file(t.file("bf16/config.json")))["torch_dtype"], "bfloat16");
  const double ratio = double(fs::file_size(t.file("bf16/model.safetensors"))) /
                       double(fs::file_size(fixture + "/model.safetensors"));
  EXPECT_NEAR(ratio, 0.5, 0.02);
  const std::string ids = join_ids(test::npy_i64(fixture + "/input_ids.npy"));
  r = run_cli("run -m " + t.file("bf16") + " --image " + fixture + "/image.png --ids " + ids + " -n 2 --budget 0.75 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["budget"], 0.75);
  expect_clean_error(run_cli("convert -m " + t.file("nothing") + " --out " + t.file("x")), "nothing");
}

}  // namespace
}  // namespace adallava
