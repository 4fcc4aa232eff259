// adallava serve: the OpenAI-compatible server (src/server). Listens first, loads the model in
// the background (GET /health answers 503 until it is ready), stops cleanly on SIGINT/SIGTERM.
#include <omp.h>

#include <atomic>
#include <filesystem>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <thread>

#include "cli/commands.h"
#include "cli/common.h"
#include "server/server.h"
#include "tensor/error.h"

namespace adallava::cli {

namespace {

std::atomic<bool> g_stop{false};
extern "C" void on_signal(int) { g_stop = true; }

struct ServeOptions {
  ModelOptions model;
  server::ServerOptions server;
  std::string api_key_file;
  double max_body_mb = 32;
  int64_t prefill_chunk = 128;
};

std::string read_key_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error(path + ": cannot read the API key file");
  std::string key;
  std::getline(in, key);
  while (!key.empty() && (key.back() == '\r' || key.back() == ' ')) key.pop_back();
  if (key.empty()) throw Error(path + ": the API key file is empty");
  return key;
}

void serve(ServeOptions o) {
  if (!o.api_key_file.empty()) o.server.api_key = read_key_file(o.api_key_file);
  o.server.limits.max_body_bytes = size_t(o.max_body_mb * 1024 * 1024);
  o.server.threads = o.model.threads;
  if (o.server.model_name == "adallava" && !o.model.model_dir.empty())
    o.server.model_name = std::filesystem::path(o.model.model_dir).filename().string();
  server::Server s(o.server);
  const int port = s.bind();
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::signal(SIGPIPE, SIG_IGN);  // a client that goes away is a failed write, not a dead server
  std::fprintf(stderr, "adallava serve: listening on http://%s:%d (loading %s)\n", o.server.host.c_str(), port,
               o.model.model_dir.c_str());
  std::string load_error;
  std::thread loader([&] {
    try {
      std::unique_ptr<Engine> engine = o.model.load_engine(o.server.batching && o.server.parallel > 1, o.prefill_chunk);
      omp_set_num_threads(o.model.threads > 0 ? o.model.threads : omp_get_num_procs());
      engine->latency_model();  // deadlines need it: calibrate (or read the cache) before the first one
      s.set_engine(std::move(engine));
      std::fprintf(stderr, "adallava serve: ready\n");
    } catch (const std::exception& e) {  // nothing to serve: stop, and say why
      load_error = e.what();
      s.set_load_error(e.what());
      g_stop = true;
    }
  });
  std::thread watcher([&] {
    while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::fprintf(stderr, "adallava serve: stopping\n");
    s.stop();
  });
  s.listen();
  g_stop = true;
  watcher.join();
  loader.join();
  if (!load_error.empty()) throw Error(load_error);
}

}  // namespace

void register_serve(CLI::App& app) {
  auto o = std::make_shared<ServeOptions>();
  CLI::App* sub = app.add_subcommand("serve", "an OpenAI-compatible HTTP server with per-request budgets and deadlines");
  o->model.add_to(*sub);
  server::ServerOptions& s = o->server;
  sub->add_option("--host", s.host, "address to listen on (default 127.0.0.1: this machine only)");
  sub->add_option("--port", s.port, "port (default 8080; 0: any free one)")->check(CLI::Range(0, 65535));
  auto* key = sub->add_option("--api-key", s.api_key, "require Authorization: Bearer KEY on /v1 and /metrics");
  sub->add_option("--api-key-file", o->api_key_file, "the same, read from the first line of a file")->excludes(key);
  sub->add_option("--parallel", s.parallel, "requests running at once (the threads are split among them)")
      ->check(CLI::Range(1, 64));
  sub->add_flag("--batching,!--no-batching", s.batching,
               "with --parallel > 1: run the running requests' steps batched, one pass over the weights (default on)");
  sub->add_option("--prefill-chunk", o->prefill_chunk,
                  "with batching: prompt rows per batched step, so a long prompt does not stall the requests "
                  "decoding beside it (0: a whole prompt in one step)")
      ->check(CLI::Range(int64_t(0), int64_t(1) << 20));
  sub->add_option("--queue", s.queue, "requests waiting beyond those; more get 429")->check(CLI::Range(0, 4096));
  sub->add_option("--timeout-s", s.timeout_s, "socket read and write timeout")->check(CLI::Range(1, 86400));
  sub->add_option("--max-body-mb", o->max_body_mb, "largest request body (413 beyond)")->check(CLI::Range(0.001, 1024.0));
  sub->add_option("--max-image-pixels", s.limits.max_image_pixels, "largest image, width x height (400 beyond)")
      ->check(CLI::Range(int64_t(1), int64_t(1) << 28));
  sub->add_option("--max-tokens-cap", s.limits.max_tokens_cap, "largest max_tokens a request may ask (400 beyond)")
      ->check(CLI::Range(1, 1 << 20));
  sub->add_option("--max-prompt-tokens", s.limits.max_prompt_tokens, "longest prompt in tokens (400 beyond)")
      ->check(CLI::Range(1, 1 << 20));
  sub->add_option("--model-name", s.model_name, "the model id /v1/models lists (default: the folder's name)");
  sub->callback([o]() { serve(*o); });
}

}  // namespace adallava::cli
