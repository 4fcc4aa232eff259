// adallava loadgen: drives a running `adallava serve` on loopback (src/server/load_generator.h)
// and reports whether it held up.
#include <cstdio>

#include "cli/commands.h"
#include "server/load_generator.h"

namespace adallava::cli {

void register_loadgen(CLI::App& app) {
  auto o = std::make_shared<server::LoadOptions>();
  auto json_out = std::make_shared<bool>(false);
  CLI::App* sub = app.add_subcommand("loadgen", "load and soak a running adallava serve (loopback only)");
  sub->add_option("--url", o->url, "the server (default http://127.0.0.1:8080)");
  sub->add_option("--clients", o->clients, "concurrent clients")->check(CLI::Range(1, 256));
  sub->add_option("--duration-s", o->duration_s, "how long to send")->check(CLI::Range(0.1, 86400.0));
  sub->add_option("--rate", o->rate, "requests per second over all clients (Poisson arrivals)")->check(CLI::Range(0.01, 10000.0));
  sub->add_option("--malformed", o->malformed, "share of malformed requests")->check(CLI::Range(0.0, 1.0));
  sub->add_option("--deadline-ms", o->deadline_ms, "deadline of the requests that carry one (0: none)")->check(CLI::Range(0.0, 1e9));
  sub->add_option("--deadline-share", o->deadline_share, "share of good requests with the deadline")->check(CLI::Range(0.0, 1.0));
  sub->add_option("--stream-share", o->stream_share, "share of good requests streamed")->check(CLI::Range(0.0, 1.0));
  sub->add_option("--max-tokens", o->max_tokens, "max_tokens of good requests")->check(CLI::Range(1, 4096));
  sub->add_option("--image", o->image, "the image good requests send")->required();
  sub->add_option("--api-key", o->api_key, "the server's key");
  sub->add_option("--server-pid", o->server_pid, "the server's process, for its RSS")->check(CLI::Range(1, 1 << 30));
  sub->add_option("--warmup-s", o->warmup_s, "RSS growth counts from here")->check(CLI::Range(0.0, 86400.0));
  sub->add_option("--seed", o->seed, "seed of arrivals and request kinds");
  sub->add_flag("--json", *json_out, "one JSON object");
  sub->callback([o, json_out]() {
    const nlohmann::json r = server::run_load(*o);
    if (*json_out) {
      std::printf("%s\n", r.dump().c_str());
      return;
    }
    std::printf("%s\n", r.dump(2).c_str());
  });
}

}  // namespace adallava::cli
