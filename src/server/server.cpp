#include "server/server.h"

#include <httplib.h>
#include <omp.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <algorithm>
#include <chrono>

#include "adaptive/deadline.h"
#include "server/api_error.h"
#include "server/chat_response.h"
#include "server/client_watch.h"
#include "server/playground.h"

namespace adallava::server {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

void send_json(httplib::Response& res, int status, const json& j) {
  res.status = status;
  res.set_content(j.dump(), "application/json");
}

void send_error(httplib::Response& res, int status, const std::string& message, const std::string& type,
                const std::string& code) {
  send_json(res, status, error_json(message, type, code));
}

// Holds back the text that could be the start of a stop string, and cuts at one when it comes.
class StopFilter {
 public:
  explicit StopFilter(const std::vector<std::string>& stops) : stops_(stops) {
    for (const std::string& s : stops) hold_ = std::max(hold_, s.size() - 1);
  }
  // The text that may go out now; false once a stop string was met.
  bool push(const std::string& piece, std::string* out) {
    text_ += piece;
    for (const std::string& s : stops_) {
      const size_t at = text_.find(s, sent_ > s.size() ? sent_ - s.size() : 0);
      if (at != std::string::npos) {
        text_.resize(at);
        stopped_ = true;
      }
    }
    const size_t ready = stopped_ ? text_.size() : (text_.size() > hold_ ? text_.size() - hold_ : 0);
    *out = ready > sent_ ? text_.substr(sent_, ready - sent_) : "";
    sent_ = std::max(sent_, ready);
    return !stopped_;
  }
  std::string rest() {
    std::string r = text_.size() > sent_ ? text_.substr(sent_) : "";
    sent_ = text_.size();
    return r;
  }
  const std::string& text() const { return text_; }
  bool stopped() const { return stopped_; }

 private:
  const std::vector<std::string>& stops_;
  std::string text_;
  size_t sent_ = 0, hold_ = 0;
  bool stopped_ = false;
};

// Compares in time independent of where the texts differ (both are hashed first).
bool same_secret(const std::string& a, const std::string& b) {
  unsigned char ha[SHA256_DIGEST_LENGTH], hb[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(a.data()), a.size(), ha);
  SHA256(reinterpret_cast<const unsigned char*>(b.data()), b.size(), hb);
  return CRYPTO_memcmp(ha, hb, SHA256_DIGEST_LENGTH) == 0;
}

}  // namespace

struct Job {
  ChatRequest chat;
  ClientWatch client;  // non-streaming: whether its client has hung up
  Completion meta;
  Clock::time_point arrival;
  Admission::Slot slot;
  int threads = 1;
};

namespace {

struct Ran {
  Response response;
  std::string text;
  bool stopped_by_string = false;
  bool client_gone = false;  // stopped because the client hung up
};

// The engine's answer to an admitted job; emit gets each piece of text as it may go out
// (returning false stops the request: the client went away).
Ran run_job(const Engine& engine, Job& job, const std::function<bool(const std::string&)>& emit) {
  omp_set_num_threads(job.threads);
  StopFilter stop(job.chat.stop);
  bool gone = false;
  Ran ran;
  ran.response = engine.generate(job.chat.request, [&](const TokenEvent& e) {
    std::string piece;
    const bool more = stop.push(e.text, &piece);
    if (!piece.empty() && emit && !emit(piece)) gone = true;
    if (job.client.gone()) gone = true;
    return more && !gone;
  });
  ran.client_gone = gone;
  const std::string rest = stop.rest();
  if (!rest.empty() && emit && !gone) emit(rest);
  ran.text = stop.text();
  ran.stopped_by_string = stop.stopped();
  return ran;
}

// A request whose client hung up before its answer (nginx's code for it).
constexpr int kClientClosed = 499;

// A request that ended with an error status.
RequestRecord failed(const Job& job, int status) {
  RequestRecord rec;
  rec.status = status;
  rec.latency_s = ms_between(job.arrival, Clock::now()) / 1000;
  rec.has_deadline = job.chat.request.deadline_ms.has_value();
  rec.deadline_met = false;
  return rec;
}

RequestRecord record_of(const Job& job, const Ran& ran) {
  RequestRecord rec;
  rec.status = ran.client_gone ? kClientClosed : 200;
  rec.answered = !ran.client_gone;
  rec.latency_s = ms_between(job.arrival, Clock::now()) / 1000;
  rec.queue_s = job.meta.queue_ms / 1000;
  rec.executed_fraction = ran.response.plan.executed_fraction;
  rec.prompt_tokens = long(ran.response.prompt_rows);
  rec.completion_tokens = long(ran.response.ids.size());
  rec.has_deadline = ran.response.deadline_ms.has_value();
  rec.deadline_met = ran.response.met;
  return rec;
}

}  // namespace

Server::Server(ServerOptions options)
    : o_(std::move(options)),
      http_(std::make_unique<httplib::Server>()),
      admission_(o_.parallel, o_.queue),
      workers_(o_.parallel) {
  http_->set_payload_max_length(o_.limits.max_body_bytes);
  http_->set_read_timeout(o_.timeout_s, 0);
  http_->set_write_timeout(o_.timeout_s, 0);
  // Enough connection threads for the running, the waiting and a few quick probes.
  const size_t pool = size_t(o_.parallel + o_.queue + 4);
  http_->new_task_queue = [pool] { return new httplib::ThreadPool(pool); };
  routes();
}

Server::~Server() = default;

int Server::bind() {
  const int port = o_.port == 0 ? http_->bind_to_any_port(o_.host) : (http_->bind_to_port(o_.host, o_.port) ? o_.port : -1);
  if (port < 0) throw Error("cannot listen on " + o_.host + ":" + std::to_string(o_.port) + " (in use, or not an address here)");
  return port;
}

void Server::listen() { http_->listen_after_bind(); }

void Server::set_engine(std::unique_ptr<Engine> engine) {
  owned_ = std::move(engine);
  engine_.store(owned_.get());
}

void Server::set_load_error(const std::string& message) {
  std::lock_guard<std::mutex> lock(load_mu_);
  load_error_ = message;
}

void Server::stop() {
  admission_.shut_down();
  http_->stop();
}

bool Server::authorized(const httplib::Request& req, httplib::Response& res) const {
  if (o_.api_key.empty()) return true;
  const std::string auth = req.get_header_value("Authorization");
  const std::string prefix = "Bearer ";
  if (auth.rfind(prefix, 0) == 0 && same_secret(auth.substr(prefix.size()), o_.api_key)) return true;
  send_error(res, 401, "missing or wrong API key (Authorization: Bearer KEY)", "authentication_error", "invalid_api_key");
  return false;
}

void Server::routes() {
  http_->Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_header("Content-Security-Policy",
                   "default-src 'self'; img-src 'self' data: blob:; style-src 'unsafe-inline'; script-src 'unsafe-inline'");
    res.set_content(playground_html(), "text/html; charset=utf-8");
  });
  http_->Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    if (engine_.load()) return send_json(res, 200, {{"status", "ok"}});
    std::lock_guard<std::mutex> lock(load_mu_);
    if (!load_error_.empty()) return send_json(res, 503, {{"status", "error"}, {"message", load_error_}});
    send_json(res, 503, {{"status", "loading"}});
  });
  http_->Get("/v1/models", [this](const httplib::Request& req, httplib::Response& res) {
    if (!authorized(req, res)) return;
    json m = {{"id", o_.model_name}, {"object", "model"}, {"owned_by", "adallava"}, {"created", 0}};
    if (const Engine* e = engine_.load()) {
      const AdaLlavaParts* ada = e->model().adaptive();
      m["adallava"] = {{"adaptive", ada != nullptr},
                       {"scheduler", ada ? (ada->config.type == SchedulerType::L ? "L" : "H") : ""},
                       {"layers", e->model().config().text.num_layers},
                       {"heads", e->model().config().text.num_heads},
                       {"vision", e->model().has_vision()},
                       {"token_selection", e->model().token_selection().name()}};
    }
    send_json(res, 200, {{"object", "list"}, {"data", json::array({m})}});
  });
  http_->Get("/metrics", [this](const httplib::Request& req, httplib::Response& res) {
    if (!authorized(req, res)) return;
    metrics_.set_queue(admission_.waiting(), admission_.running());
    if (const Engine* e = engine_.load(); e && e->batcher()) metrics_.set_batching(e->batcher()->steps(), e->batcher()->entries(), e->batcher()->row_ms());
    res.set_content(metrics_.render(), "text/plain; version=0.0.4");
  });
  http_->Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) { chat(req, res); });
  // Errors httplib answers by itself (unknown path, body over the limit) get a JSON body too.
  http_->set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    if (res.status == 413 && req.get_header_value("Content-Type") == "application/x-www-form-urlencoded")
      send_error(res, 413, "a form-encoded body is limited to 8 KiB; send JSON with Content-Type: application/json",
                 "invalid_request_error", "body_too_large");
    else if (res.status == 413)
      send_error(res, 413, "the body exceeds the server's limit of " + std::to_string(o_.limits.max_body_bytes) +
                               " bytes (--max-body-mb)", "invalid_request_error", "body_too_large");
    else if (res.status == 404)
      send_error(res, 404, "no such route", "invalid_request_error", "not_found");
    else
      send_error(res, res.status, "the request could not be read", "invalid_request_error", "bad_request");
  });
  http_->set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "internal error";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    send_error(res, 500, what, "server_error", "internal_error");
  });
}

void Server::chat(const httplib::Request& req, httplib::Response& res) {
  auto job = std::make_shared<Job>();
  job->arrival = Clock::now();
  const auto refuse = [&](int status, const std::string& message, const std::string& type, const std::string& code) {
    send_error(res, status, message, type, code);
    metrics_.record(failed(*job, status));
  };
  if (!authorized(req, res)) return metrics_.record({401});
  const Engine* engine = engine_.load();
  if (!engine) return refuse(503, "the model is still loading", "server_error", "loading");
  try {
    const std::optional<std::string> header =
        req.has_header("X-Deadline-Ms") ? std::optional<std::string>(req.get_header_value("X-Deadline-Ms")) : std::nullopt;
    job->chat = parse_chat_request(req.body, *engine, o_.limits, header);
  } catch (const ApiError& e) {
    return refuse(e.status, e.what(), e.type, e.code);
  }
  std::optional<Clock::time_point> deadline;
  if (job->chat.request.deadline_ms)
    deadline = job->arrival + std::chrono::microseconds(int64_t(*job->chat.request.deadline_ms * 1000));
  switch (admission_.enter(deadline, &job->slot)) {
    case Admission::Outcome::Admitted:
      break;
    case Admission::Outcome::QueueFull:
      res.set_header("Retry-After", "1");
      return refuse(429, "the server is busy: " + std::to_string(o_.parallel) + " running and " +
                             std::to_string(o_.queue) + " waiting (--parallel, --queue)", "rate_limit_error", "queue_full");
    case Admission::Outcome::DeadlinePassed:
      return refuse(422, "the deadline of " + json(*job->chat.request.deadline_ms).dump() +
                             " ms passed while the request waited for a slot", "invalid_request_error", "deadline_passed");
    case Admission::Outcome::ShuttingDown:
      return refuse(503, "the server is stopping", "server_error", "shutting_down");
  }
  job->meta = {"chatcmpl-" + std::to_string(next_id_++), o_.model_name,
               std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count(),
               ms_between(job->arrival, Clock::now())};
  if (job->chat.request.deadline_ms) *job->chat.request.deadline_ms -= job->meta.queue_ms;  // what is left of it
  if (!job->chat.stream) job->client = ClientWatch(req.remote_addr, req.remote_port, req.local_port);
  const int threads = o_.threads > 0 ? o_.threads : omp_get_num_procs();
  // Batched, one step runs at a time for every running request, with all the threads;
  // otherwise the slots share them.
  job->threads = engine_.load()->batcher() ? threads : std::max(1, threads / std::max(1, o_.parallel));
  answer(job, res);
}

void Server::answer(const std::shared_ptr<Job>& job, httplib::Response& res) {
  const Engine& engine = *engine_.load();
  // An engine refusal as (status, type, code): a deadline that cannot be met, or a request the
  // model cannot run (a budget on a plain LLaVA, an image for a text model, ...).
  const auto classify = [](const std::exception& e) -> std::tuple<int, std::string, std::string> {
    if (dynamic_cast<const InfeasibleDeadline*>(&e)) return {422, "invalid_request_error", "deadline_infeasible"};
    if (dynamic_cast<const Error*>(&e)) return {400, "invalid_request_error", "unsupported_request"};
    return {500, "server_error", "internal_error"};
  };
  if (!job->chat.stream) {
    try {
      Ran ran;
      workers_.run([&] { ran = run_job(engine, *job, {}); });
      if (ran.client_gone)
        send_error(res, kClientClosed, "the client closed the connection", "invalid_request_error", "client_closed");
      else
        send_json(res, 200, completion_json(job->meta, ran.response, ran.text, ran.stopped_by_string));
      metrics_.record(record_of(*job, ran));
    } catch (const std::exception& e) {
      const auto [status, type, code] = classify(e);
      send_error(res, status, e.what(), type, code);
      metrics_.record(failed(*job, status));
    }
    job->slot.release();
    return;
  }
  try {  // a deadline no plan can meet is a 422 before the stream's headers go out
    engine.check_deadline(job->chat.request);
  } catch (const std::exception& e) {
    const auto [status, type, code] = classify(e);
    send_error(res, status, e.what(), type, code);
    metrics_.record(failed(*job, status));
    job->slot.release();
    return;
  }
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");  // nginx passes the events through as they come
  res.set_chunked_content_provider("text/event-stream", [this, job, eng = &engine, classify](size_t, httplib::DataSink& sink) {
    const auto event = [&sink](const json& j) {
      const std::string s = "data: " + j.dump() + "\n\n";
      return sink.is_writable() && sink.write(s.data(), s.size());
    };
    event(chunk_json(job->meta, "", /*first=*/true));
    try {
      Ran ran;
      workers_.run([&] {
        ran = run_job(*eng, *job, [&](const std::string& piece) { return event(chunk_json(job->meta, piece, false)); });
      });
      event(final_chunk_json(job->meta, ran.response, ran.stopped_by_string));
      metrics_.record(record_of(*job, ran));
    } catch (const std::exception& e) {
      const auto [status, type, code] = classify(e);
      event(error_json(e.what(), type, code));
      metrics_.record(failed(*job, status));
    }
    job->slot.release();
    const std::string done = "data: [DONE]\n\n";
    if (sink.is_writable()) sink.write(done.data(), done.size());
    sink.done();
    return true;
  });
}

}  // namespace adallava::server
