// The recipe's pipeline end to end at toy scale: synth renders a data set and a tokenizer, init
// writes a random LLaVA that loads, train runs stage 1 (everything, plain LLaVA) and stage 2
// (--variant L, vision frozen), eval scores it per budget, policy and kind, and writes a report.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli/cli_test_util.h"
#include "test_util.h"

namespace adallava {
namespace {

namespace fs = std::filesystem;

TEST(CmdSynth, SynthInitTrainEvalPipeline) {
  test::TempDir t;
  Result r = run_cli("synth --out " + t.file("data") +
                     " --n 24 --val 6 --test 8 --seed 5 --image-size 48 --vocab 320 --turns 3");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* f : {"train.json", "val.json", "test.json", "pretrain.json", "tokenizer.model"})
    EXPECT_TRUE(fs::exists(t.file("data/") + f)) << f;
  const auto train = nlohmann::json::parse(test::read_file(t.file("data/train.json")));
  ASSERT_EQ(train.size(), 24u);
  EXPECT_TRUE(fs::exists(t.file("data/images/") + train[0]["image"].get<std::string>()));
  // --turns: three different questions about each training image, the image in the first only;
  // the test split asks one.
  for (const auto& rec : train) {
    const auto& c = rec["conversations"];
    ASSERT_EQ(c.size(), 6u);
    EXPECT_EQ(c[0]["value"].get<std::string>().rfind("<image>\n", 0), 0u);
    for (size_t k = 2; k < 6; ++k) EXPECT_EQ(c[k]["value"].get<std::string>().find("<image>"), std::string::npos);
    EXPECT_NE(c[0]["value"], c[2]["value"]);
    EXPECT_NE(c[2]["value"], c[4]["value"]);
  }
  // pretrain.json: a caption of every training image (the plain-template stage's data).
  const auto captions = nlohmann::json::parse(test::read_file(t.file("data/pretrain.json")));
  ASSERT_EQ(captions.size(), 24u);
  EXPECT_EQ(captions[3]["image"], train[3]["image"]);
  EXPECT_EQ(captions[3]["kind"], "caption");
  const std::string caption = captions[3]["conversations"][1]["value"];
  EXPECT_TRUE(caption.find("circle") != std::string::npos || caption.find("square") != std::string::npos ||
              caption.find("triangle") != std::string::npos)
      << caption;
  // retrieval.json: look-up questions about training images of two or more objects, caption last.
  const auto lookups = nlohmann::json::parse(test::read_file(t.file("data/retrieval.json")));
  ASSERT_FALSE(lookups.empty());
  for (const auto& rec : lookups) {
    const auto& c = rec["conversations"];
    ASSERT_GE(c.size(), 4u);
    ASSERT_LE(c.size(), 2u * (3 + 1));  // --turns 3 look-ups at most, then the caption
    EXPECT_EQ(c[0]["value"].get<std::string>().rfind("<image>\nWhat ", 0), 0u) << c[0];
    const std::string stem = rec["id"].get<std::string>().substr(0, rec["id"].get<std::string>().size() - 7);
    EXPECT_EQ(rec["id"].get<std::string>(), stem + "-lookup");
    EXPECT_EQ(c[c.size() - 1], captions[std::stoi(stem.substr(6))]["conversations"][1]);
  }
  const auto test_split = nlohmann::json::parse(test::read_file(t.file("data/test.json")));
  EXPECT_EQ(test_split.size(), 8u);
  EXPECT_EQ(test_split[0]["conversations"].size(), 2u);
  // The same seed gives the same set; another seed another.
  r = run_cli("synth --out " + t.file("again") + " --n 24 --val 6 --test 8 --seed 5 --image-size 48 --vocab 320 --turns 3");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(test::read_file(t.file("again/train.json")), test::read_file(t.file("data/train.json")));
  // --caption-last: the conversation ends with the image's caption.
  r = run_cli("synth --out " + t.file("captioned") + " --n 4 --val 1 --test 1 --seed 5 --image-size 48 --vocab 320 --turns 2 --caption-last");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto captioned = nlohmann::json::parse(test::read_file(t.file("captioned/train.json")));
  const auto their_captions = nlohmann::json::parse(test::read_file(t.file("captioned/pretrain.json")));
  ASSERT_EQ(captioned[1]["conversations"].size(), 6u);
  EXPECT_EQ(captioned[1]["conversations"][5], their_captions[1]["conversations"][1]);
  // ... and train-questions.json has the same conversations without it (AdaLLaVA training puts
  // the latency token before the last answer, which must be a question's).
  const auto questions = nlohmann::json::parse(test::read_file(t.file("captioned/train-questions.json")));
  ASSERT_EQ(questions.size(), captioned.size());
  for (size_t i = 0; i < questions.size(); ++i) {
    auto without_caption = captioned[i];
    auto& c = without_caption["conversations"];
    c.erase(c.end() - 2, c.end());
    EXPECT_EQ(questions[i], without_caption) << i;
  }
  EXPECT_FALSE(fs::exists(t.file("data/train-questions.json")));  // only with --caption-last

  r = run_cli("init --out " + t.file("init") + " --tokenizer " + t.file("data/tokenizer.model") +
              " --hidden 32 --intermediate 48 --layers 4 --heads 4 --vision-hidden 16 --vision-intermediate 32"
              " --vision-layers 2 --vision-heads 2 --image-size 48 --patch 12 --seed 1");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string data = " --data " + t.file("data/train.json") + " --images " + t.file("data/images");
  // Stage 1: caption pre-training (plain template), then instruction tuning (vicuna_v1).
  r = run_cli("train -m " + t.file("init") + " --data " + t.file("data/pretrain.json") + " --images " +
              t.file("data/images") + " --template plain --out " + t.file("s0") + " --steps 2 --batch 4 --train all");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_cli("train -m " + t.file("s0") + data + " --out " + t.file("s1") + " --steps 3 --batch 4 --lr 1e-3 --train all");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_cli("train -m " + t.file("s1") + data + " --out " + t.file("s2") +
              " --steps 2 --batch 4 --lr 1e-3 --variant L --prefix 2");
  ASSERT_EQ(r.exit_code, 0) << r.err;

  r = run_cli("eval -m " + t.file("s2") + " --data " + t.file("data/test.json") + " --images " + t.file("data/images") +
              " --budgets 1,0.5 --plan scheduler,early-exit,random --json --report " + t.file("report"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["results"].size(), 6u);  // 3 policies × 2 budgets
  for (const auto& res : j["results"]) {
    for (const char* k : {"budget", "plan", "accuracy", "executed_fraction", "distinct_plans", "top_plans", "per_kind"})
      EXPECT_TRUE(res.contains(k)) << k;
    EXPECT_GE(res["accuracy"].get<double>(), 0.0);
    EXPECT_LE(res["accuracy"].get<double>(), 1.0);
    int n = 0;
    for (const auto& [kind, s] : res["per_kind"].items()) n += s["n"].get<int>();
    EXPECT_EQ(n, 8);
  }
  EXPECT_DOUBLE_EQ(j["results"][0]["executed_fraction"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(j["results"][1]["executed_fraction"].get<double>(), 0.5);  // prefix 2 of 4, no units
  EXPECT_EQ(j["results"][2]["top_plans"][0]["plan"], "0,1,2,3");  // early exit at full budget
  EXPECT_EQ(j["results"][3]["top_plans"][0]["plan"], "0,1");      // and with the prefix alone
  EXPECT_EQ(j["results"][3]["top_plans"][0]["records"], 8);
  EXPECT_NE(test::read_file(t.file("report/report.md")).find("| scheduler | none | 0.5 |"), std::string::npos);
  EXPECT_NE(test::read_file(t.file("report/accuracy.svg")).find("early-exit"), std::string::npos);

  // Explicit layer lists work on a plain checkpoint too: the executed fraction is the share of
  // layers that run, and all four layers score as the plain full model does.
  r = run_cli("eval -m " + t.file("s1") + " --data " + t.file("data/test.json") + " --images " + t.file("data/images") +
              " --layers \"0,1,2,3;0,1\" --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto lj = nlohmann::json::parse(r.out)["results"];
  ASSERT_EQ(lj.size(), 2u) << r.out;
  EXPECT_EQ(lj[0]["plan"], "0,1,2,3");
  EXPECT_DOUBLE_EQ(lj[0]["executed_fraction"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(lj[1]["executed_fraction"].get<double>(), 0.5);
  r = run_cli("eval -m " + t.file("s1") + " --data " + t.file("data/test.json") + " --images " + t.file("data/images") + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["results"][0]["accuracy"], lj[0]["accuracy"]);
  expect_clean_error(run_cli("eval -m " + t.file("s1") + " --data " + t.file("data/test.json") + " --images " +
                             t.file("data/images") + " --layers \"0,x\""),
                     "layer");

  // A plain checkpoint has no budgets; a bad policy is named.
  expect_clean_error(run_cli("eval -m " + t.file("s1") + " --data " + t.file("data/test.json") + " --images " +
                             t.file("data/images") + " --budgets 0.5"),
                     "AdaLLaVA");
  expect_clean_error(run_cli("eval -m " + t.file("s2") + " --data " + t.file("data/test.json") + " --images " +
                             t.file("data/images") + " --plan best"),
                     "--plan");
}

TEST(CmdSynth, ObjectCountRangeMustBeOrdered) {
  test::TempDir t;
  expect_clean_error(run_cli("synth --out " + t.file("d") + " --n 2 --min-objects 4 --max-objects 3"), "--min-objects");
}

}  // namespace
}  // namespace adallava
