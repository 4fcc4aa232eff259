#include "server/chat_response.h"

#include "engine/response_json.h"

namespace adallava::server {

using nlohmann::json;

json usage_json(const Response& r) {
  return {{"prompt_tokens", r.prompt_rows},
          {"completion_tokens", r.ids.size()},
          {"total_tokens", r.prompt_rows + int64_t(r.ids.size())}};
}

json timings_json(const Response& r, double queue_ms) {
  const double n = double(r.ids.size());
  return {{"queue_ms", queue_ms},
          {"vision_ms", r.vision_ms},
          {"prompt_n", r.prompt_rows},
          {"prompt_ms", r.prefill_ms},
          {"prompt_per_second", r.prefill_ms > 0 ? double(r.prompt_rows) * 1000 / r.prefill_ms : 0.0},
          {"predicted_n", r.ids.size()},
          {"predicted_ms", r.decode_ms},
          {"predicted_per_second", n > 1 && r.decode_ms > 0 ? (n - 1) * 1000 / r.decode_ms : 0.0},
          {"total_ms", r.total_ms}};
}

json adallava_json(const Response& r) {
  json j;
  add_plan_report(j, r.plan);
  j.erase("scheduler_logits");
  add_selection_report(j, r);
  j["actual_ms"] = r.total_ms;
  j["finish_reason"] = r.finish_reason;
  if (r.deadline_ms) {
    add_deadline_report(j, r);
  } else {
    j["deadline_ms"] = nullptr;
    j["met"] = nullptr;
  }
  return j;
}

std::string finish_reason(const Response& r, bool stopped_by_string) {
  if (stopped_by_string || r.finish_reason == "stop") return "stop";
  return r.finish_reason;  // length, deadline, cancelled
}

json completion_json(const Completion& c, const Response& r, const std::string& text, bool stopped_by_string) {
  return {{"id", c.id},
          {"object", "chat.completion"},
          {"created", c.created},
          {"model", c.model},
          {"choices", json::array({{{"index", 0},
                                    {"message", {{"role", "assistant"}, {"content", text}}},
                                    {"finish_reason", finish_reason(r, stopped_by_string)}}})},
          {"usage", usage_json(r)},
          {"timings", timings_json(r, c.queue_ms)},
          {"adallava", adallava_json(r)}};
}

json chunk_json(const Completion& c, const std::string& delta, bool first) {
  json d = {{"content", delta}};
  if (first) d["role"] = "assistant";
  return {{"id", c.id},
          {"object", "chat.completion.chunk"},
          {"created", c.created},
          {"model", c.model},
          {"choices", json::array({{{"index", 0}, {"delta", d}, {"finish_reason", nullptr}}})}};
}

json final_chunk_json(const Completion& c, const Response& r, bool stopped_by_string) {
  json j = chunk_json(c, "", false);
  j["choices"][0]["delta"] = json::object();
  j["choices"][0]["finish_reason"] = finish_reason(r, stopped_by_string);
  j["usage"] = usage_json(r);
  j["timings"] = timings_json(r, c.queue_ms);
  j["adallava"] = adallava_json(r);
  return j;
}

json error_json(const std::string& message, const std::string& type, const std::string& code) {
  return {{"error", {{"message", message}, {"type", type}, {"code", code}}}};
}

}  // namespace adallava::server
