// The chat template renderer: the input picks a template name (any bytes, as a request's field
// would) and is cut into conversation turns at NUL bytes.
#include "fuzz/fuzz_support.h"
#include "text/chat_template.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace adallava;
  std::vector<std::string> parts(1);
  for (size_t i = 0; i < size; ++i) {
    if (data[i] == 0) parts.emplace_back();
    else parts.back() += char(data[i]);
  }
  static const char* names[] = {"vicuna_v1", "llava_v1", "plain"};
  try {
    const ChatTemplate t = chat_template(size && data[0] < 3 ? names[data[0]] : parts[0]);
    std::vector<std::pair<std::string, std::string>> turns;
    for (size_t i = 1; i + 1 < parts.size(); i += 2) turns.emplace_back(parts[i], parts[i + 1]);
    render_prompt(t, turns);
    single_turn_prompt(t, parts.back(), parts.size() % 2 == 0);
  } catch (const Error&) {
  }
  return 0;
}
