// Conversation templates of the LLaVA repository (conversation.py, SeparatorStyle.TWO).
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace adallava {

struct ChatTemplate {
  std::string name;
  std::string system;
  std::string user_role = "USER", assistant_role = "ASSISTANT";
  std::string sep = " ", sep2 = "</s>";
};

// "vicuna_v1", "llava_v1", or "plain" (no system text, "USER: ... ASSISTANT:" as llava-hf
// documents). Throws Error for other names.
ChatTemplate chat_template(const std::string& name);

// system + sep + "USER: msg" + sep + "ASSISTANT: answer" + sep2 + ... ending with "ASSISTANT:"
// when the last turn has no answer. turns: (user message, assistant answer or "").
std::string render_prompt(const ChatTemplate& t, const std::vector<std::pair<std::string, std::string>>& turns);

// One question about an optional image: the image placeholder goes first, then "\n".
std::string single_turn_prompt(const ChatTemplate& t, const std::string& question, bool with_image);

}  // namespace adallava
