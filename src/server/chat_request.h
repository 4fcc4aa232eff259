// POST /v1/chat/completions bodies (OpenAI's chat format) turned into an engine request: the
// messages rendered in the model's chat template, one image from a data: URI, sampling, stop
// strings, and the extensions `budget`, `deadline_ms` and `token_selection`. Every field is
// checked; a bad one is an ApiError naming it and the limit it broke.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "engine/engine.h"

namespace adallava::server {

struct Limits {
  size_t max_body_bytes = size_t(32) << 20;  // --max-body-mb
  int64_t max_image_pixels = int64_t(1) << 24;  // --max-image-pixels (16 Mpx)
  int max_tokens_cap = 512;                 // --max-tokens-cap
  int default_max_tokens = 128;             // when the request names none (capped too)
  int max_prompt_tokens = 4096;             // the model's context caps it further
};

struct ChatRequest {
  Request request;  // ids already tokenized
  bool stream = false;
  bool include_usage = true;  // stream_options.include_usage (the last chunk carries usage anyway)
  std::vector<std::string> stop;
  std::string model;  // echoed back
};

// body: the JSON text; deadline_header: X-Deadline-Ms when present.
ChatRequest parse_chat_request(const std::string& body, const Engine& engine, const Limits& limits,
                               const std::optional<std::string>& deadline_header);

}  // namespace adallava::server
