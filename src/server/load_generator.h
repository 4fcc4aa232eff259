// A load generator for `adallava serve`: clients on loopback with Poisson arrivals, a share of
// malformed requests of many kinds, a share with deadlines, some streamed. It checks every
// answer (good requests must be answered, bad ones must get a JSON error), and reports latency,
// deadline misses, the server's RSS over the run and whether /metrics counted what was sent.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace adallava::server {

struct LoadOptions {
  std::string url = "http://127.0.0.1:8080";  // loopback only
  int clients = 8;
  double duration_s = 300;
  double rate = 4;              // requests per second over all clients (Poisson)
  double malformed = 0.2;       // share of bad requests
  double deadline_share = 0.3;  // share of good requests with a deadline
  double deadline_ms = 0;       // their deadline (0: none sent)
  double stream_share = 0.5;
  int max_tokens = 16;
  std::string image;            // PNG or JPEG sent with good requests
  std::string api_key;
  int server_pid = 0;           // for its RSS (0: not measured)
  double warmup_s = 30;         // RSS growth is measured from here
  uint64_t seed = 1;
};

nlohmann::json run_load(const LoadOptions& o);

}  // namespace adallava::server
