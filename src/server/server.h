// adallava serve: an OpenAI-compatible HTTP server over one engine (cpp-httplib). Routes:
// POST /v1/chat/completions (JSON or Server-Sent Events), GET /v1/models, GET /health (503
// while the model loads), GET /metrics (Prometheus). Requests wait for one of --parallel slots
// in a queue ordered by deadline; every failure is a JSON error with a status.
#pragma once
#include <atomic>
#include <memory>
#include <mutex>
#include <string>

#include "engine/engine.h"
#include "server/admission.h"
#include "server/chat_request.h"
#include "server/metrics.h"
#include "server/workers.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace adallava::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;             // 0: any free port (tests)
  std::string api_key;         // empty: none asked
  int parallel = 1;            // requests running at once
  bool batching = true;        // with parallel > 1: their steps batched (the engine's batcher)
  int queue = 16;              // requests waiting beyond those
  int threads = 0;             // compute threads in all (0: every core), split over the slots
  int timeout_s = 600;         // socket read and write timeouts
  std::string model_name = "adallava";
  Limits limits;
};

class Server {
 public:
  explicit Server(ServerOptions options);
  ~Server();

  // Binds (port 0: any free one) and returns the port; throws Error when it cannot.
  int bind();
  // Serves until stop() (blocking). The engine may come later (GET /health says 503 until then).
  void listen();
  void set_engine(std::unique_ptr<Engine> engine);
  void set_load_error(const std::string& message);  // the model failed to load: /health says so
  // Refuses waiting requests, lets running ones finish, and makes listen() return.
  void stop();
  // The slots and the queue (tests hold a slot to see the queue's refusals).
  Admission& admission() { return admission_; }

 private:
  void routes();
  bool authorized(const httplib::Request& req, httplib::Response& res) const;
  void chat(const httplib::Request& req, httplib::Response& res);
  // Runs an admitted request, streaming its chunks or answering whole.
  void answer(const std::shared_ptr<struct Job>& job, httplib::Response& res);

  ServerOptions o_;
  std::unique_ptr<httplib::Server> http_;
  std::atomic<Engine*> engine_{nullptr};
  std::unique_ptr<Engine> owned_;
  mutable std::mutex load_mu_;
  std::string load_error_;
  Admission admission_;
  Workers workers_;
  Metrics metrics_;
  std::atomic<uint64_t> next_id_{0};
};

}  // namespace adallava::server
