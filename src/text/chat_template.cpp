#include "text/chat_template.h"

#include "tensor/error.h"

namespace adallava {

ChatTemplate chat_template(const std::string& name) {
  ChatTemplate t;
  t.name = name;
  if (name == "vicuna_v1") {
    t.system =
        "A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, "
        "detailed, and polite answers to the user's questions.";
  } else if (name == "llava_v1") {
    t.system =
        "A chat between a curious human and an artificial intelligence assistant. The assistant gives helpful, "
        "detailed, and polite answers to the human's questions.";
  } else if (name != "plain") {
    throw Error("unknown chat template '" + name + "' (vicuna_v1, llava_v1 or plain)");
  }
  return t;
}

std::string render_prompt(const ChatTemplate& t, const std::vector<std::pair<std::string, std::string>>& turns) {
  std::string out = t.system.empty() ? "" : t.system + t.sep;
  for (const auto& [user, answer] : turns) {
    out += t.user_role + ": " + user + t.sep;
    out += t.assistant_role + ":";
    if (!answer.empty()) out += " " + answer + t.sep2;
  }
  return out;
}

std::string single_turn_prompt(const ChatTemplate& t, const std::string& question, bool with_image) {
  return render_prompt(t, {{with_image ? "<image>\n" + question : question, ""}});
}

}  // namespace adallava
