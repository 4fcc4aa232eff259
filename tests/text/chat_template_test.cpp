#include "text/chat_template.h"

#include <gtest/gtest.h>

#include "tensor/error.h"

namespace adallava {
namespace {

TEST(ChatTemplate, VicunaV1SingleTurnAsTheLlavaRepository) {
  EXPECT_EQ(single_turn_prompt(chat_template("vicuna_v1"), "What is this?", true),
            "A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, "
            "detailed, and polite answers to the user's questions. USER: <image>\nWhat is this? ASSISTANT:");
}

TEST(ChatTemplate, MultiTurnClosesAnswersWithSep2) {
  ChatTemplate t = chat_template("llava_v1");
  std::string p = render_prompt(t, {{"Hi", "Hello"}, {"Colour?", ""}});
  EXPECT_EQ(p, t.system + " USER: Hi ASSISTANT: Hello</s>USER: Colour? ASSISTANT:");
  EXPECT_THROW(chat_template("chatml"), Error);
}

}  // namespace
}  // namespace adallava
