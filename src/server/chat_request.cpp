#include "server/chat_request.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "adaptive/deadline.h"
#include "io/parse_number.h"
#include "server/api_error.h"
#include "server/base64.h"
#include "text/chat_template.h"
#include "vision/image.h"

namespace adallava::server {

using nlohmann::json;

namespace {

constexpr size_t kMaxStops = 4, kMaxStopBytes = 256;

// A numeric field in [lo, hi], or nothing when absent or null.
std::optional<double> number(const json& j, const char* key, double lo, double hi) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  if (!it->is_number()) throw bad_request("invalid_type", std::string(key) + " must be a number");
  const double v = it->get<double>();
  if (!std::isfinite(v) || v < lo || v > hi)
    throw bad_request("invalid_value", std::string(key) + " " + it->dump() + " is outside [" + json(lo).dump() + ", " +
                                           json(hi).dump() + "]");
  return v;
}

std::optional<int64_t> integer(const json& j, const char* key, int64_t lo, int64_t hi) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  if (!it->is_number_integer()) throw bad_request("invalid_type", std::string(key) + " must be an integer");
  if (it->is_number_unsigned() && it->get<uint64_t>() > uint64_t(hi))
    throw bad_request("invalid_value", std::string(key) + " " + it->dump() + " is above " + std::to_string(hi));
  const int64_t v = it->get<int64_t>();
  if (v < lo || v > hi)
    throw bad_request("invalid_value", std::string(key) + " " + std::to_string(v) + " is outside [" +
                                           std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return v;
}

// "data:image/png;base64,...." → decoded image; anything else is refused.
RgbImage image_from_url(const std::string& url, const Limits& limits) {
  if (url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0)
    throw bad_request("remote_image_refused",
                      "image_url: this server fetches nothing; send the image inline as a data: URI (base64 PNG or JPEG)");
  const size_t comma = url.find(',');
  const size_t header = std::string("data:;base64").size();  // the shortest that can be right
  if (url.rfind("data:", 0) != 0 || comma == std::string::npos || comma < header ||
      url.compare(comma - 7, 7, ";base64") != 0)
    throw bad_request("invalid_image_url", "image_url: expected a data:image/...;base64, URI");
  const std::optional<std::string> bytes = decode_base64(url.substr(comma + 1));
  if (!bytes) throw bad_request("invalid_base64", "image_url: the base64 data is broken");
  if (bytes->empty()) throw bad_request("invalid_image", "image_url: the image is empty");
  try {
    return decode_image(reinterpret_cast<const uint8_t*>(bytes->data()), bytes->size(), "image_url",
                        limits.max_image_pixels);
  } catch (const Error& e) {
    const std::string what = e.what();
    if (what.find("exceeds the limit") != std::string::npos)
      throw bad_request("image_too_large", what + " (--max-image-pixels)");
    throw bad_request("invalid_image", what);
  }
}

// A message's content: a string, or parts of type text and image_url. The image, if any, goes
// to *image (one per request).
std::string message_text(const json& content, size_t index, std::optional<RgbImage>& image, const Limits& limits) {
  const std::string where = "messages[" + std::to_string(index) + "].content";
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array()) throw bad_request("invalid_type", where + " must be a string or an array of parts");
  std::string text;
  for (const json& part : content) {
    const std::string type = part.is_object() && part.contains("type") && part["type"].is_string()
                                 ? part["type"].get<std::string>() : "";
    if (type == "text") {
      if (!part.contains("text") || !part["text"].is_string())
        throw bad_request("invalid_type", where + ": a text part needs a string `text`");
      text += (text.empty() ? "" : "\n") + part["text"].get<std::string>();
    } else if (type == "image_url") {
      const json& iu = part.value("image_url", json());
      const json url = iu.is_object() ? iu.value("url", json()) : iu;
      if (!url.is_string()) throw bad_request("invalid_type", where + ": an image_url part needs image_url.url");
      if (image) throw bad_request("too_many_images", where + ": this model takes one image per request");
      image = image_from_url(url.get<std::string>(), limits);
    } else {
      throw bad_request("invalid_type", where + ": part type '" + type + "' is not text or image_url");
    }
  }
  return text;
}

}  // namespace

ChatRequest parse_chat_request(const std::string& body, const Engine& engine, const Limits& limits,
                               const std::optional<std::string>& deadline_header) {
  const json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw bad_request("invalid_json", "the body is not valid JSON");
  if (!j.is_object()) throw bad_request("invalid_json", "the body must be a JSON object");
  ChatRequest c;
  if (j.contains("model") && j["model"].is_string()) c.model = j["model"].get<std::string>();
  if (j.contains("stream") && !j["stream"].is_null()) {
    if (!j["stream"].is_boolean()) throw bad_request("invalid_type", "stream must be true or false");
    c.stream = j["stream"].get<bool>();
  }
  // The conversation: system text, then user and assistant turns ending with a user turn.
  const auto msgs = j.find("messages");
  if (msgs == j.end() || !msgs->is_array() || msgs->empty())
    throw bad_request("invalid_messages", "messages must be a non-empty array");
  ChatTemplate t = chat_template("vicuna_v1");
  std::string system;
  std::vector<std::pair<std::string, std::string>> turns;
  std::optional<RgbImage> image;
  bool image_turn_marked = false;
  for (size_t i = 0; i < msgs->size(); ++i) {
    const json& m = (*msgs)[i];
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string())
      throw bad_request("invalid_messages", "messages[" + std::to_string(i) + "] needs a string role");
    const std::string role = m["role"].get<std::string>();
    std::string text = message_text(m.value("content", json("")), i, image, limits);
    if (role == "system" || role == "developer") {
      system += (system.empty() ? "" : "\n") + text;
    } else if (role == "user") {
      if (image && !image_turn_marked) text = "<image>\n" + text, image_turn_marked = true;
      if (!turns.empty() && turns.back().second.empty())
        turns.back().first += "\n" + text;  // two user messages in a row read as one
      else
        turns.push_back({text, ""});
    } else if (role == "assistant") {
      if (turns.empty() || !turns.back().second.empty())
        throw bad_request("invalid_messages", "messages[" + std::to_string(i) + "]: an assistant turn must follow a user turn");
      if (image && !image_turn_marked) throw bad_request("invalid_messages", "images go in user messages");
      turns.back().second = text.empty() ? " " : text;
    } else {
      throw bad_request("invalid_messages", "messages[" + std::to_string(i) + "]: role '" + role +
                                                "' is not system, user or assistant");
    }
  }
  if (turns.empty() || !turns.back().second.empty())
    throw bad_request("invalid_messages", "the last message must be the user's");
  if (!system.empty()) t.system = system;
  Request& r = c.request;
  r.image = std::move(image);
  r.raw_prompt = true;
  r.prompt = render_prompt(t, turns);

  // Generation.
  const auto max_tokens = integer(j, j.contains("max_completion_tokens") ? "max_completion_tokens" : "max_tokens", 1,
                                  int64_t(1) << 40);
  if (max_tokens && *max_tokens > limits.max_tokens_cap)
    throw bad_request("max_tokens_too_large", "max_tokens " + std::to_string(*max_tokens) +
                                                  " exceeds the server's cap of " +
                                                  std::to_string(limits.max_tokens_cap) + " (--max-tokens-cap)");
  r.max_new_tokens = int(max_tokens.value_or(std::min(limits.default_max_tokens, limits.max_tokens_cap)));
  r.sampling.temperature = float(number(j, "temperature", 0, 2).value_or(0));
  r.sampling.top_p = float(number(j, "top_p", 0, 1).value_or(1));
  if (r.sampling.top_p <= 0) throw bad_request("invalid_value", "top_p must be above 0");
  r.sampling.top_k = int(integer(j, "top_k", 0, 1 << 20).value_or(0));
  r.sampling.seed = uint64_t(integer(j, "seed", INT64_MIN, INT64_MAX).value_or(0));
  if (const auto s = j.find("stop"); s != j.end() && !s->is_null()) {
    const json list = s->is_string() ? json::array({*s}) : *s;
    if (!list.is_array() || list.size() > kMaxStops)
      throw bad_request("invalid_stop", "stop must be a string or up to " + std::to_string(kMaxStops) + " strings");
    for (const json& x : list) {
      if (!x.is_string() || x.get<std::string>().empty() || x.get<std::string>().size() > kMaxStopBytes)
        throw bad_request("invalid_stop", "stop strings must be non-empty strings of at most " +
                                              std::to_string(kMaxStopBytes) + " bytes");
      c.stop.push_back(x.get<std::string>());
    }
  }
  if (const auto so = j.find("stream_options"); so != j.end() && so->is_object() && so->contains("include_usage"))
    c.include_usage = (*so)["include_usage"].is_boolean() && (*so)["include_usage"].get<bool>();

  // Extensions: the budget or a deadline (body or X-Deadline-Ms), and the token selection.
  const std::optional<double> budget = number(j, "budget", 0, 1);
  std::optional<double> deadline = number(j, "deadline_ms", 0, 1e9);
  if (deadline && *deadline <= 0) throw bad_request("invalid_value", "deadline_ms must be above 0");
  if (deadline_header) {
    if (deadline) throw bad_request("invalid_value", "give the deadline in the body or in X-Deadline-Ms, not both");
    try {
      deadline = parse_deadline_ms(*deadline_header, "X-Deadline-Ms");
    } catch (const Error& e) {
      throw bad_request("invalid_value", e.what());
    }
  }
  if (budget && deadline) throw bad_request("invalid_value", "budget and deadline_ms exclude each other");
  if (budget) r.plan.budget = *budget;
  r.deadline_ms = deadline;
  if (const auto ts = j.find("token_selection"); ts != j.end() && !ts->is_null()) {
    if (!ts->is_string()) throw bad_request("invalid_type", "token_selection must be a string");
    try {
      r.token_selection = TokenSelection::parse(ts->get<std::string>());
    } catch (const Error& e) {
      throw bad_request("invalid_value", e.what());
    }
  }
  // Tokenized here, so the prompt's length is checked before the request waits for a slot.
  try {
    r.ids = engine.prompt_ids(r);
  } catch (const Error& e) {
    throw bad_request("invalid_prompt", e.what());
  }
  if (int64_t(r.ids.size()) > limits.max_prompt_tokens)
    throw bad_request("prompt_too_long", "the prompt has " + std::to_string(r.ids.size()) +
                                             " tokens; the limit is " + std::to_string(limits.max_prompt_tokens));
  return c;
}

}  // namespace adallava::server
