// What /v1/chat/completions answers: OpenAI's completion object or its stream of chunks, with
// usage, llama.cpp-style timings and an `adallava` object (budget, plan, executed fraction,
// token selection, predicted and actual ms, whether the deadline was met).
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "engine/engine.h"

namespace adallava::server {

struct Completion {
  std::string id, model;
  int64_t created = 0;  // seconds since the epoch
  double queue_ms = 0;
};

nlohmann::json usage_json(const Response& r);
nlohmann::json timings_json(const Response& r, double queue_ms);
nlohmann::json adallava_json(const Response& r);
// finish_reason as OpenAI names it: stop, length (and deadline, cancelled: adallava's own).
std::string finish_reason(const Response& r, bool stopped_by_string);

// The whole answer.
nlohmann::json completion_json(const Completion& c, const Response& r, const std::string& text, bool stopped_by_string);
// One streamed chunk: a piece of text (the first carries the role), or the last with the
// finish reason, usage, timings and plan.
nlohmann::json chunk_json(const Completion& c, const std::string& delta, bool first);
nlohmann::json final_chunk_json(const Completion& c, const Response& r, bool stopped_by_string);
// {"error": {"message", "type", "code"}}
nlohmann::json error_json(const std::string& message, const std::string& type, const std::string& code);

}  // namespace adallava::server
