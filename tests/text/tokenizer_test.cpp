// The tokenizer against SentencePiece and transformers' slow LlamaTokenizer (legacy true and
// false) on every string of the tokenizer fixture.
#include "text/tokenizer.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "tensor/error.h"
#include "test_util.h"

namespace adallava {
namespace {

TEST(Tokenizer, MatchesSentencePieceAndTransformers) {
  const std::string dir = test::fixture("tokenizer_tiny");
  std::ifstream in(dir + "/encodings.json");
  auto enc = nlohmann::json::parse(in);
  Tokenizer legacy = Tokenizer::from_model_file(dir + "/tokenizer.model", true);
  Tokenizer modern = Tokenizer::from_model_file(dir + "/tokenizer.model", false);
  for (Tokenizer* t : {&legacy, &modern}) {
    t->add_special_token("<image>", 384);
    t->add_special_token("<pad>", 385);
  }
  ASSERT_GT(enc["cases"].size(), 30u);
  for (auto& c : enc["cases"]) {
    const std::string text = c["text"];
    SCOPED_TRACE(text);
    EXPECT_EQ(legacy.encode_raw(text), c["ids"].get<std::vector<int64_t>>());
    EXPECT_EQ(legacy.encode(text), c["hf_legacy_true"].get<std::vector<int64_t>>());
    EXPECT_EQ(modern.encode(text), c["hf_legacy_false"].get<std::vector<int64_t>>());
    EXPECT_EQ(legacy.decode(c["ids"].get<std::vector<int64_t>>()), c["decoded"].get<std::string>());
  }
}

TEST(Tokenizer, ImageChunksFollowLlavaTokenizerImageToken) {
  Tokenizer t = Tokenizer::from_model_file(test::fixture("tokenizer_tiny/tokenizer.model"), true);
  const std::string before = "USER: ", after = "\nWhat is it? ASSISTANT:";
  std::vector<int64_t> ids = t.encode_with_image_chunks(before + "<image>" + after, -200);
  std::vector<int64_t> want = t.encode(before);
  want.push_back(-200);
  std::vector<int64_t> tail = t.encode(after);
  want.insert(want.end(), tail.begin() + 1, tail.end());
  EXPECT_EQ(ids, want);
}

TEST(Tokenizer, MissingOrCorruptModelIsAnError) {
  test::TempDir d;
  EXPECT_THROW(Tokenizer::load(d.path), Error);
  test::write_file(d.file("tokenizer.model"), "garbage");
  EXPECT_THROW(Tokenizer::load(d.path), Error);
  // Found by fuzz/sentencepiece_model.cpp: a model whose unk_id names no piece made
  // libsentencepiece abort the process.
  try {
    Tokenizer::from_model_file(test::source_dir() + "/fuzz/regressions/sentencepiece_model/unk-id-outside-pieces", true);
    ADD_FAILURE() << "loaded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unk_id"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace adallava
