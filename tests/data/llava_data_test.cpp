// LLaVA data: the authors' training sample re-encoded with the fixture's word-level toy
// tokenizer gives their ids and labels exactly; malformed records are named or skipped.
#include "data/llava_data.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "tensor/error.h"
#include "test_util.h"
#include "train/ada_step.h"

namespace adallava::data {
namespace {

// The fixture's ToyWordTokenizer: BOS, then the longest vocabulary piece at each position
// ("</s>" is the EOS id 2).
EncodeFn toy_tokenizer(const nlohmann::json& vocab) {
  std::vector<std::pair<std::string, int64_t>> pieces = {{"</s>", 2}};
  for (auto& [k, v] : vocab.items()) pieces.push_back({k, v.get<int64_t>()});
  return [pieces](const std::string& text) {
    std::vector<int64_t> ids = {1};
    for (size_t at = 0; at < text.size();) {
      size_t best = 0;
      int64_t id = -1;
      for (const auto& [p, i] : pieces)
        if (p.size() > best && text.compare(at, p.size(), p) == 0) best = p.size(), id = i;
      if (best == 0) throw Error("toy tokenizer: no piece at '" + text.substr(at, 10) + "'");
      ids.push_back(id);
      at += best;
    }
    return ids;
  };
}

TEST(LlavaData, ReproducesTheAuthorsTrainingSample) {
  for (const std::string& dir : test::fixtures_of_type("ada_llava_llama")) {
    SCOPED_TRACE(dir);
    std::ifstream in(dir + "/manifest.json");
    const nlohmann::json m = nlohmann::json::parse(in);
    const EncodeFn tok = toy_tokenizer(m["prompt"]["toy_vocab"]);
    test::TempDir d;
    nlohmann::json rec = {{"id", "fixture"}, {"image", "image.png"}, {"conversations", m["train"]["conversation"]}};
    std::ofstream(d.file("data.json")) << nlohmann::json::array({rec}).dump();
    const auto records = load_llava_json(d.file("data.json"));
    ASSERT_EQ(records.size(), 1u);
    const Encoded e = encode_record(records[0], tok, 1, -200);
    EXPECT_FALSE(e.mismatch);
    EXPECT_EQ(e.ids, test::npy_i64(dir + "/train_input_ids.npy"));
    EXPECT_EQ(e.labels, test::npy_i64(dir + "/train_labels.npy"));
  }
}

// LLaVA's preprocess_plain (the caption pre-training stage): BOS and the image unsupervised,
// then the first answer and "\n" supervised; the question and later turns are dropped.
TEST(LlavaData, PlainTemplateIsImageThenCaption) {
  const EncodeFn tok = [](const std::string& text) {  // one id per character, after BOS
    std::vector<int64_t> ids = {1};
    for (char c : text) ids.push_back(int64_t(static_cast<unsigned char>(c)));
    return ids;
  };
  Record r;
  r.id = "caption";
  r.image = "a.png";
  r.turns = {{true, "<image>\nDescribe the shapes."}, {false, "red"}, {true, "More?"}, {false, "no"}};
  const Encoded e = encode_record(r, tok, 1, -200, true, "plain");
  EXPECT_EQ(e.ids, (std::vector<int64_t>{1, -200, 'r', 'e', 'd', '\n'}));
  EXPECT_EQ(e.labels, (std::vector<int64_t>{kIgnoreIndex, kIgnoreIndex, 'r', 'e', 'd', '\n'}));
  r.turns[0].value = "Describe the shapes.";  // no image: not a caption record
  EXPECT_THROW(encode_record(r, tok, 1, -200, true, "plain"), Error);
  EXPECT_THROW(encode_record(r, tok, 1, -200, true, "llama_2"), Error);
}

TEST(LlavaData, MalformedRecordsAreNamedOrSkipped) {
  test::TempDir d;
  auto expect_error = [&](const std::string& json, const std::string& part) {
    std::ofstream(d.file("bad.json")) << json;
    try {
      load_llava_json(d.file("bad.json"));
      ADD_FAILURE() << "no error for " << json;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  };
  expect_error("{", "not valid JSON");
  expect_error("{}", "expected a JSON list");
  expect_error(R"([{"id": "r1"}])", "record 'r1': field conversations");
  expect_error(R"([{"id": "r2", "conversations": [{"from": "robot", "value": "x"}]}])",
               "record 'r2': turn from 'robot'");
  expect_error(R"([{"id": "r3", "conversations": [{"from": "human", "value": "a"}, {"from": "human", "value": "b"}]}])",
               "record 'r3': turns must alternate");
  expect_error(
      R"([{"id": "r4", "image": "x.png", "conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}]}])",
      "record 'r4': a record with an image needs exactly one <image>");
  expect_error(R"([{"id": "r5", "conversations": [{"from": "human", "value": "<image> hi"}]}])", "record 'r5'");
  expect_error(R"([5])", "record 0 is not an object");
  expect_error("", "not valid JSON");
  EXPECT_THROW(load_llava_json(d.file("missing.json")), Error);

  std::ofstream(d.file("mixed.json")) << R"([{"id": "ok", "conversations": [{"from": "human", "value": "hi"},
      {"from": "gpt", "value": "yo"}]}, {"id": "bad"}, 7])";
  int64_t skipped = 0;
  const auto recs = load_llava_json(d.file("mixed.json"), /*skip_bad=*/true, &skipped);
  EXPECT_EQ(recs.size(), 1u);
  EXPECT_EQ(skipped, 2);
}

}  // namespace
}  // namespace adallava::data
