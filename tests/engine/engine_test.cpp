// The request API: prompts built in one place, streamed text that adds up to the answer, a
// callback that stops a request, and logits equal to the reference.
#include "engine/engine.h"

#include <gtest/gtest.h>

#include "tensor/error.h"
#include "test_util.h"
#include "text/chat_template.h"

namespace adallava {
namespace {

const std::string kShippedL = std::string(ADALLAVA_MODELS_DIR) + "/adallava-tiny-L";

Request question(const std::string& text) {
  Request r;
  r.image = load_image(std::string(ADALLAVA_MODELS_DIR) + "/examples/scene-1.png");
  r.prompt = text;
  return r;
}

TEST(Engine, QuestionPromptIsTheTemplateWithTheImageMarker) {
  const auto e = Engine::load(kShippedL);
  const Request r = question("How many shapes are there?");
  const std::string text = single_turn_prompt(chat_template("vicuna_v1"), r.prompt, true);
  EXPECT_EQ(e->prompt_ids(r), e->tokenizer()->encode_with_image_chunks(text, e->model().config().image_token_id));
  Request ids;
  ids.ids = {1, 5, 7};
  EXPECT_EQ(e->prompt_ids(ids), ids.ids);  // exact ids pass through
  EXPECT_THROW(e->prompt_ids(Request{}), Error);
}

TEST(Engine, StreamedPiecesAddUpToTheAnswer) {
  const auto e = Engine::load(kShippedL);
  Request r = question("What shape is the red object?");
  r.plan.budget = 0.75;
  std::string streamed;
  int calls = 0;
  const Response out = e->generate(r, [&](const TokenEvent& t) {
    streamed += t.text;
    ++calls;
    return true;
  });
  EXPECT_EQ(streamed, out.text);
  EXPECT_EQ(calls, int(out.ids.size()));
  EXPECT_EQ(out.finish_reason, "stop");
  EXPECT_TRUE(out.plan.adaptive);
  EXPECT_EQ(out.plan.budget, 0.75);
  EXPECT_EQ(out.prompt_ids, e->prompt_ids(r));
}

TEST(Engine, CallbackStopsTheRequest) {
  const auto e = Engine::load(kShippedL);
  Request r = question("How many shapes are there?");
  r.ignore_eos = true;
  r.max_new_tokens = 10;
  int calls = 0;
  const Response out = e->generate(r, [&](const TokenEvent&) { return ++calls < 3; });
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(out.ids.size(), 3u);
  EXPECT_EQ(out.finish_reason, "cancelled");
  r.max_new_tokens = 4;
  EXPECT_EQ(e->generate(r).finish_reason, "length");
}

TEST(Engine, LogitsMatchTheReference) {
  const std::string dir = test::fixture("llava_tiny_f32");
  EngineOptions o;
  o.precision = Precision::F32;
  const auto e = Engine::load(dir, o);
  Request r;
  r.ids = test::npy_i64(dir + "/input_ids.npy");
  r.image = load_image(dir + "/image.png");
  int64_t rows = 0;
  const std::vector<float> logits = e->logits(r, &rows);
  EXPECT_EQ(rows, int64_t(test::npy_i64(dir + "/input_ids_expanded.npy").size()));
  EXPECT_TRUE(test::all_close(logits, test::npy_f32(dir + "/logits.npy"), 1e-4, "logits"));
}

}  // namespace
}  // namespace adallava
