// The server's request body (JSON, messages with text and image_url parts, data: URIs, base64,
// sampling and budget fields) parsed against the shipped model, as POST /v1/chat/completions
// does; the last line of the input, when it starts with "X-Deadline-Ms:", is the header.
#include "engine/engine.h"
#include "fuzz/fuzz_support.h"
#include "server/chat_request.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace adallava;
  static const std::unique_ptr<Engine> engine = Engine::load(fuzz::source_dir() + "/models/adallava-tiny-L");
  std::string body(reinterpret_cast<const char*>(data), size);
  std::optional<std::string> header;
  const size_t nl = body.rfind('\n');
  if (nl != std::string::npos && body.compare(nl + 1, 14, "X-Deadline-Ms:") == 0) {
    header = body.substr(nl + 15);
    body.resize(nl);
  }
  server::Limits limits;
  limits.max_body_bytes = 1 << 20;
  limits.max_image_pixels = 1 << 18;
  try {
    server::parse_chat_request(body, *engine, limits, header);
  } catch (const Error&) {
  }
  return 0;
}
