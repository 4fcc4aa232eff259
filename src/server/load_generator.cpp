#include "server/load_generator.h"

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <random>
#include <regex>
#include <thread>

#include "report/stats.h"
#include "server/base64.h"
#include "tensor/error.h"

namespace adallava::server {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

struct Target {
  std::string host;
  int port = 0;
};

Target loopback(const std::string& url) {
  const std::regex re(R"(http://(127\.0\.0\.1|localhost|\[::1\]):(\d+)/?)");
  std::smatch m;
  if (!std::regex_match(url, m, re)) throw Error("--url " + url + ": the load generator only drives loopback servers (http://127.0.0.1:PORT)");
  return {m[1].str() == "[::1]" ? "::1" : m[1].str(), std::stoi(m[2].str())};
}

long rss_kb(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return 0;
}

// adallava_requests_total by status from a /metrics text.
std::map<int, long> counted(const std::string& metrics) {
  std::map<int, long> out;
  const std::regex re(R"re(adallava_requests_total\{status="(\d+)"\} (\d+))re");
  for (auto it = std::sregex_iterator(metrics.begin(), metrics.end(), re); it != std::sregex_iterator(); ++it)
    out[std::stoi((*it)[1])] = std::stol((*it)[2]);
  return out;
}

json question(const std::string& text, const std::string& image_uri) {
  json content = json::array({{{"type", "text"}, {"text", text}}});
  if (!image_uri.empty()) content.push_back({{"type", "image_url"}, {"image_url", {{"url", image_uri}}}});
  return {{"model", "m"}, {"messages", json::array({{{"role", "user"}, {"content", content}}})}};
}

// One malformed request of kind k: (body, headers, what it is).
struct Bad {
  std::string body, what;
  bool wrong_key = false;
};

Bad malformed(int k, const std::string& png, const std::string& image_uri) {
  switch (k % 9) {
    case 0: return {"{\"messages\": [", "bad JSON"};
    case 1: return {question("hi", "").dump().replace(1, 0, "\"max_tokens\": \"ten\", "), "wrong type"};
    case 2: return {question("hi", "data:image/png;base64,!!!not base64!!!").dump(), "broken base64"};
    case 3: return {question("hi", "data:image/png;base64," + encode_base64(png.substr(0, png.size() / 3))).dump(), "truncated PNG"};
    case 4: {
      json j = question("hi", image_uri);
      j["max_tokens"] = 1000000;
      return {j.dump(), "huge max_tokens"};
    }
    case 5: return {question("hi", "").dump(), "wrong key", true};
    case 6: return {question("hi", "http://example.com/cat.png").dump(), "remote image"};
    case 7: return {"[\"not\", \"an\", \"object\"]", "not an object"};
    default: {
      json j = question("hi", "");
      j["budget"] = 7;
      return {j.dump(), "budget out of range"};
    }
  }
}

struct Tally {
  std::mutex mu;
  long good = 0, answered = 0, bad = 0, refused_right = 0, busy = 0;
  long deadline_sent = 0, deadline_missed = 0;
  std::map<std::string, long> failures;  // what went wrong, counted
  std::map<int, long> by_status;
  std::vector<double> latency_ms;
  void fail(const std::string& why) { ++failures[why]; }
};

// Whether a streamed body ended well, and its final chunk's adallava object.
bool stream_ok(const std::string& body, json* adallava) {
  if (body.size() < 14 || body.compare(body.size() - 14, 14, "data: [DONE]\n\n") != 0) return false;
  size_t at = 0;
  while ((at = body.find("data: ", at)) != std::string::npos) {
    const size_t end = body.find("\n\n", at);
    const json j = json::parse(body.substr(at + 6, end - at - 6), nullptr, false);
    if (j.is_object() && j.contains("error")) return false;
    if (j.is_object() && j.contains("adallava")) *adallava = j["adallava"];
    at = end;
  }
  return adallava->is_object();
}

}  // namespace

json run_load(const LoadOptions& o) {
  const Target t = loopback(o.url);
  std::string png;
  if (!o.image.empty()) {
    std::ifstream in(o.image, std::ios::binary);
    if (!in) throw Error(o.image + ": cannot read the image");
    png.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  const std::string image_uri = png.empty() ? "" : "data:image/png;base64," + encode_base64(png);
  httplib::Headers auth;
  if (!o.api_key.empty()) auth.insert({"Authorization", "Bearer " + o.api_key});
  const auto metrics = [&] {
    httplib::Client c(t.host, t.port);
    auto r = c.Get("/metrics", auth);
    if (!r || r->status != 200) throw Error(o.url + "/metrics: no answer");
    return counted(r->body);
  };
  const std::map<int, long> before = metrics();
  const long rss_start = o.server_pid ? rss_kb(o.server_pid) : 0;
  std::atomic<long> rss_warm{0};
  Tally tally;
  const auto start = Clock::now();
  const auto end = start + std::chrono::microseconds(int64_t(o.duration_s * 1e6));
  std::vector<std::thread> clients;
  for (int c = 0; c < o.clients; ++c)
    clients.emplace_back([&, c] {
      std::mt19937_64 rng(o.seed * 1000003u + uint64_t(c));
      std::exponential_distribution<double> gap(o.rate / o.clients);
      std::uniform_real_distribution<double> u(0, 1);
      httplib::Client client(t.host, t.port);
      client.set_read_timeout(600, 0);
      auto next = Clock::now();
      for (int k = 0;; ++k) {
        next += std::chrono::microseconds(int64_t(gap(rng) * 1e6));
        // Arrivals stop at the end, also when the server fell behind them (a saturating rate
        // measures throughput for the duration, not for a backlog of scheduled requests).
        if (next >= end || Clock::now() >= end) break;
        std::this_thread::sleep_until(next);
        if (o.server_pid && c == 0 && rss_warm == 0 && Clock::now() - start > std::chrono::duration<double>(o.warmup_s))
          rss_warm = rss_kb(o.server_pid);
        const auto t0 = Clock::now();
        if (u(rng) < o.malformed) {
          const Bad b = malformed(int(rng() % 9), png, image_uri);
          httplib::Headers h = b.wrong_key ? httplib::Headers{{"Authorization", "Bearer wrong"}} : auth;
          if (b.wrong_key && o.api_key.empty()) h = auth;  // no key asked: send another bad one
          auto r = client.Post("/v1/chat/completions", h, b.wrong_key && o.api_key.empty() ? "{" : b.body, "application/json");
          std::lock_guard<std::mutex> lock(tally.mu);
          ++tally.bad;
          if (!r) { tally.fail("no answer to " + b.what); continue; }
          ++tally.by_status[r->status];
          const json j = json::parse(r->body, nullptr, false);
          if (r->status >= 400 && r->status < 500 && j.is_object() && j.contains("error")) ++tally.refused_right;
          else tally.fail(b.what + " got " + std::to_string(r->status));
          continue;
        }
        json q = question("How many objects are there?", image_uri);
        q["max_tokens"] = o.max_tokens;
        const bool with_deadline = o.deadline_ms > 0 && u(rng) < o.deadline_share;
        if (with_deadline) q["deadline_ms"] = o.deadline_ms;
        else q["budget"] = std::vector<double>{1.0, 0.75, 0.5}[rng() % 3];
        const bool stream = u(rng) < o.stream_share;
        q["stream"] = stream;
        auto r = client.Post("/v1/chat/completions", auth, q.dump(), "application/json");
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
        std::lock_guard<std::mutex> lock(tally.mu);
        ++tally.good;
        tally.deadline_sent += with_deadline;
        if (!r) { tally.fail("no answer to a good request"); tally.deadline_missed += with_deadline; continue; }
        ++tally.by_status[r->status];
        if (r->status == 429) ++tally.busy;
        json adallava;
        const bool ok = r->status == 200 && (stream ? stream_ok(r->body, &adallava)
                                                    : json::parse(r->body, nullptr, false).contains("adallava"));
        if (ok && !stream) adallava = json::parse(r->body)["adallava"];
        if (!ok) {
          tally.fail("good request got " + std::to_string(r->status));
          tally.deadline_missed += with_deadline;
          continue;
        }
        ++tally.answered;
        tally.latency_ms.push_back(ms);
        if (with_deadline && !(adallava.contains("met") && adallava["met"].is_boolean() && adallava["met"].get<bool>()))
          ++tally.deadline_missed;
      }
    });
  for (auto& th : clients) th.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  const long rss_end = o.server_pid ? rss_kb(o.server_pid) : 0;
  const std::map<int, long> after = metrics();
  json metric_check = json::object();
  bool metrics_match = true;
  for (const auto& [status, n] : tally.by_status) {
    const long counted_n = (after.count(status) ? after.at(status) : 0) - (before.count(status) ? before.at(status) : 0);
    metric_check[std::to_string(status)] = {{"sent", n}, {"counted", counted_n}};
    metrics_match &= counted_n == n;
  }
  json failures = json::object();
  for (const auto& [why, n] : tally.failures) failures[why] = n;
  const long warm = rss_warm ? rss_warm.load() : rss_start;
  return {{"url", o.url},
          {"clients", o.clients},
          {"seconds", seconds},
          {"rate", o.rate},
          {"good_requests", tally.good},
          {"good_answered", tally.answered},
          {"bad_requests", tally.bad},
          {"bad_refused_with_json_error", tally.refused_right},
          {"busy_429", tally.busy},
          {"failures", failures},
          {"p50_ms", percentile(tally.latency_ms, 0.5)},
          {"p99_ms", percentile(tally.latency_ms, 0.99)},
          {"deadline_ms", o.deadline_ms},
          {"deadline_requests", tally.deadline_sent},
          {"deadline_missed", tally.deadline_missed},
          {"deadline_miss_rate", tally.deadline_sent ? double(tally.deadline_missed) / double(tally.deadline_sent) : 0.0},
          {"server_rss_kb", {{"start", rss_start}, {"after_warmup", warm}, {"end", rss_end}}},
          {"rss_growth_after_warmup", warm ? double(rss_end - warm) / double(warm) : 0.0},
          {"metrics_by_status", metric_check},
          {"metrics_match", metrics_match}};
}

}  // namespace adallava::server
