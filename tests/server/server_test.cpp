// The server end to end, in-process on a loopback port, with the shipped AdaLLaVA-L: answers
// (equal to the engine's own), streaming, stop strings, every error path as a JSON error, the
// API key, the body limit, the queue's 429, metrics that count what was sent, and concurrency.
#include "server/server.h"

#include <gtest/gtest.h>
#include <unistd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <httplib.h>

#include <thread>

#include "server/base64.h"
#include "server/chat_request.h"
#include "server/load_generator.h"
#include "tensor/error.h"
#include "test_util.h"

namespace adallava::server {
namespace {

using nlohmann::json;

const std::string kModel = std::string(ADALLAVA_MODELS_DIR) + "/adallava-tiny-L";
const std::string kImage = std::string(ADALLAVA_MODELS_DIR) + "/examples/scene-1.png";

std::string data_uri(const std::string& bytes) { return "data:image/png;base64," + encode_base64(bytes); }

json ask(const std::string& question, const std::string& image_uri, json extra = json::object()) {
  json content = json::array({{{"type", "text"}, {"text", question}}});
  if (!image_uri.empty()) content.push_back({{"type", "image_url"}, {"image_url", {{"url", image_uri}}}});
  json j = {{"model", "adallava-tiny-L"}, {"messages", json::array({{{"role", "user"}, {"content", content}}})}};
  for (auto& [k, v] : extra.items()) j[k] = v;
  return j;
}

// A server on a free loopback port, serving until destroyed.
struct TestServer {
  explicit TestServer(ServerOptions o = {}, bool with_engine = true, EngineOptions eo = {}) : server([&] {
      o.port = 0;
      return o;
    }()) {
    port = server.bind();
    if (with_engine) server.set_engine(Engine::load(kModel, eo));
    thread = std::thread([this] { server.listen(); });
  }
  ~TestServer() {
    server.stop();
    thread.join();
  }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(60, 0);
    return c;
  }
  httplib::Result post(const json& body, const httplib::Headers& h = {}) const {
    return client().Post("/v1/chat/completions", h, body.dump(), "application/json");
  }
  Server server;
  int port = 0;
  std::thread thread;
};

void expect_error(const httplib::Result& r, int status, const std::string& code, const std::string& needle) {
  ASSERT_TRUE(r) << "no response";
  EXPECT_EQ(r->status, status) << r->body;
  const json j = json::parse(r->body, nullptr, false);
  ASSERT_TRUE(j.is_object() && j.contains("error")) << r->body;
  EXPECT_EQ(j["error"]["code"], code) << r->body;
  EXPECT_FALSE(j["error"]["type"].get<std::string>().empty());
  EXPECT_NE(j["error"]["message"].get<std::string>().find(needle), std::string::npos) << r->body;
}

// The data lines of an event stream, without the "data: " prefix.
std::vector<std::string> events(const std::string& body) {
  std::vector<std::string> out;
  size_t at = 0;
  while ((at = body.find("data: ", at)) != std::string::npos) {
    const size_t end = body.find("\n\n", at);
    out.push_back(body.substr(at + 6, end - at - 6));
    at = end;
  }
  return out;
}

TEST(Server, AnswersAsTheEngineDoesWithThePlanAndTimings) {
  TestServer ts;
  const std::string uri = data_uri(test::read_file(kImage));
  auto r = ts.post(ask("What shape is the object?", uri, {{"budget", 0.75}, {"max_tokens", 6}}));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json j = json::parse(r->body);
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["choices"][0]["message"]["role"], "assistant");
  const std::string text = j["choices"][0]["message"]["content"];
  // The engine's own answer to the same request.
  const auto engine = Engine::load(kModel);
  Request req;
  req.image = decode_image(reinterpret_cast<const uint8_t*>(test::read_file(kImage).data()), test::read_file(kImage).size(), "x");
  req.prompt = "What shape is the object?";
  req.max_new_tokens = 6;
  req.plan.budget = 0.75;
  const Response want = engine->generate(req);
  EXPECT_EQ(text, want.text);
  EXPECT_EQ(j["usage"]["prompt_tokens"], want.prompt_rows);
  EXPECT_EQ(j["usage"]["completion_tokens"], want.ids.size());
  for (const char* k : {"queue_ms", "vision_ms", "prompt_ms", "predicted_ms", "prompt_per_second"})
    EXPECT_TRUE(j["timings"].contains(k)) << k;
  EXPECT_GT(j["timings"]["vision_ms"].get<double>(), 0);
  const json& a = j["adallava"];
  EXPECT_EQ(a["budget"], 0.75);
  EXPECT_NEAR(a["executed_fraction"].get<double>(), want.plan.executed_fraction, 1e-12);
  EXPECT_EQ(a["plan"]["executed_layers"].size(), want.plan.plan.executed_layers().size());
  EXPECT_TRUE(a["met"].is_null());
}

// A non-streaming request whose client hangs up after sending it stops at its first token and
// is counted as 499 (cpp-httplib tells the handler nothing: server/client_watch.h).
TEST(Server, ANonStreamingRequestStopsWhenItsClientHangsUp) {
  TestServer ts;
  const std::string body = ask("What shape is the object?", data_uri(test::read_file(kImage)), {{"max_tokens", 6}}).dump();
  const std::string request = "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                              "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(uint16_t(ts.port));
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(write(fd, request.data(), request.size()), ssize_t(request.size()));
  close(fd);
  std::string m;
  for (int i = 0; i < 200 && m.find("status=\"499\"} 1") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    m = ts.client().Get("/metrics")->body;
  }
  EXPECT_NE(m.find("adallava_requests_total{status=\"499\"} 1"), std::string::npos) << m;
  EXPECT_EQ(m.find("status=\"200\""), std::string::npos) << m;
}

TEST(Server, StreamsTheSameAnswerInChunksEndingWithDone) {
  TestServer ts;
  const std::string uri = data_uri(test::read_file(kImage));
  auto whole = ts.post(ask("What colour is the object?", uri, {{"max_tokens", 6}}));
  ASSERT_TRUE(whole && whole->status == 200);
  auto r = ts.post(ask("What colour is the object?", uri, {{"max_tokens", 6}, {"stream", true}, {"deadline_ms", 60000}}));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/event-stream");
  const auto ev = events(r->body);
  ASSERT_GE(ev.size(), 3u) << r->body;
  EXPECT_EQ(ev.back(), "[DONE]");
  std::string text;
  for (size_t i = 0; i + 2 < ev.size(); ++i) {
    const json c = json::parse(ev[i]);
    EXPECT_EQ(c["object"], "chat.completion.chunk");
    text += c["choices"][0]["delta"]["content"].get<std::string>();
  }
  EXPECT_EQ(json::parse(ev[0])["choices"][0]["delta"]["role"], "assistant");
  const json last = json::parse(ev[ev.size() - 2]);
  EXPECT_FALSE(last["choices"][0]["finish_reason"].is_null());
  EXPECT_TRUE(last.contains("usage") && last.contains("timings"));
  EXPECT_EQ(last["adallava"]["deadline_ms"].is_number(), true);
  EXPECT_TRUE(last["adallava"]["met"].get<bool>());
  EXPECT_EQ(text, json::parse(whole->body)["choices"][0]["message"]["content"]);
}

TEST(Server, StopStringsCutTheAnswer) {
  TestServer ts;
  const std::string uri = data_uri(test::read_file(kImage));
  auto whole = ts.post(ask("What shape is the object?", uri, {{"max_tokens", 6}}));
  const std::string text = json::parse(whole->body)["choices"][0]["message"]["content"];
  ASSERT_GE(text.size(), 3u) << text;
  const std::string stop = text.substr(1, 2);
  for (bool stream : {false, true}) {
    auto r = ts.post(ask("What shape is the object?", uri, {{"max_tokens", 6}, {"stop", stop}, {"stream", stream}}));
    ASSERT_TRUE(r && r->status == 200) << (r ? r->body : "");
    std::string got;
    if (stream) {
      const auto ev = events(r->body);
      for (size_t i = 0; i + 2 < ev.size(); ++i) got += json::parse(ev[i])["choices"][0]["delta"]["content"].get<std::string>();
      EXPECT_EQ(json::parse(ev[ev.size() - 2])["choices"][0]["finish_reason"], "stop");
    } else {
      got = json::parse(r->body)["choices"][0]["message"]["content"];
      EXPECT_EQ(json::parse(r->body)["choices"][0]["finish_reason"], "stop");
    }
    EXPECT_EQ(got, text.substr(0, 1)) << "stream " << stream;
  }
}

TEST(Server, EveryBadRequestGetsAJsonErrorAndTheServerLives) {
  ServerOptions o;
  o.limits.max_tokens_cap = 64;
  o.limits.max_image_pixels = 100 * 100;
  TestServer ts(o);
  const std::string png = test::read_file(kImage);
  const std::string uri = data_uri(png);
  auto raw = [&](const std::string& body) {
    return ts.client().Post("/v1/chat/completions", body, "application/json");
  };
  expect_error(raw("{not json"), 400, "invalid_json", "not valid JSON");
  expect_error(raw("[1,2]"), 400, "invalid_json", "JSON object");
  expect_error(raw("{}"), 400, "invalid_messages", "messages");
  expect_error(ts.post(ask("hi", "", {{"max_tokens", "ten"}})), 400, "invalid_type", "max_tokens");
  expect_error(ts.post(ask("hi", "", {{"max_tokens", 100000}})), 400, "max_tokens_too_large", "--max-tokens-cap");
  expect_error(ts.post(ask("hi", "", {{"temperature", 5}})), 400, "invalid_value", "temperature");
  expect_error(ts.post(ask("hi", "", {{"budget", 1.5}})), 400, "invalid_value", "budget");
  expect_error(ts.post(ask("hi", "", {{"budget", 0.5}, {"deadline_ms", 100}})), 400, "invalid_value", "exclude");
  expect_error(ts.post(ask("hi", "", {{"deadline_ms", -1}})), 400, "invalid_value", "deadline_ms");
  expect_error(ts.post(ask("hi", "", {{"token_selection", "prune"}})), 400, "invalid_value", "token selection");
  expect_error(ts.post(ask("hi", "", {{"stop", json::array({1})}})), 400, "invalid_stop", "stop");
  expect_error(ts.post(ask("hi", "data:image/png;base64,@@@@")), 400, "invalid_base64", "base64");
  expect_error(ts.post(ask("hi", data_uri(png.substr(0, png.size() / 2)))), 400, "invalid_image", "image_url");
  expect_error(ts.post(ask("hi", "https://example.com/cat.png")), 400, "remote_image_refused", "fetches nothing");
  expect_error(ts.post(ask("hi", "file:///etc/passwd")), 400, "invalid_image_url", "data:");
  expect_error(ts.post(ask("hi", "data:,abc")), 400, "invalid_image_url", "data:");  // found by fuzz/chat_request.cpp
  json two = ask("hi", uri);
  two["messages"][0]["content"].push_back({{"type", "image_url"}, {"image_url", {{"url", uri}}}});
  expect_error(ts.post(two), 400, "too_many_images", "one image");
  json last_assistant = ask("hi", "");
  last_assistant["messages"].push_back({{"role", "assistant"}, {"content", "yes"}});
  expect_error(ts.post(last_assistant), 400, "invalid_messages", "last message");
  json role = ask("hi", "");
  role["messages"][0]["role"] = "robot";
  expect_error(ts.post(role), 400, "invalid_messages", "robot");
  expect_error(ts.post(ask("hi", ""), {{"X-Deadline-Ms", "soon"}}), 400, "invalid_value", "X-Deadline-Ms");
  expect_error(ts.post(ask("hi", "", {{"deadline_ms", 0.001}})), 422, "deadline_infeasible", "cannot be met");
  expect_error(ts.post(ask("hi", "", {{"deadline_ms", 0.001}, {"stream", true}})), 422, "deadline_infeasible",
               "cannot be met");
  // A large image over --max-image-pixels: a 200x200 PNG made here.
  RgbImage big;
  big.width = big.height = 200;
  big.pixels.assign(200 * 200 * 3, 128);
  test::TempDir d;
  write_png(d.file("big.png"), big);
  expect_error(ts.post(ask("hi", data_uri(test::read_file(d.file("big.png"))))), 400, "image_too_large", "--max-image-pixels");
  expect_error(ts.client().Get("/nowhere"), 404, "not_found", "no such route");
  auto h = ts.client().Get("/health");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
}

TEST(Server, HealthSaysLoadingUntilTheModelIsThere) {
  TestServer ts({}, /*with_engine=*/false);
  auto h = ts.client().Get("/health");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 503);
  EXPECT_EQ(json::parse(h->body)["status"], "loading");
  expect_error(ts.post(ask("hi", "")), 503, "loading", "loading");
  ts.server.set_engine(Engine::load(kModel));
  h = ts.client().Get("/health");
  EXPECT_EQ(h->status, 200);
  auto m = ts.client().Get("/v1/models");
  ASSERT_TRUE(m && m->status == 200);
  EXPECT_EQ(json::parse(m->body)["data"][0]["adallava"]["adaptive"], true);
}

TEST(Server, AnApiKeyIsCheckedAndTheBodyLimitHolds) {
  ServerOptions o;
  o.api_key = "sesame";
  o.limits.max_body_bytes = 4096;
  TestServer ts(o);
  expect_error(ts.post(ask("hi", "")), 401, "invalid_api_key", "API key");
  expect_error(ts.post(ask("hi", ""), {{"Authorization", "Bearer sesam"}}), 401, "invalid_api_key", "API key");
  auto ok = ts.post(ask("hi", "", {{"max_tokens", 2}}), {{"Authorization", "Bearer sesame"}});
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200) << ok->body;
  expect_error(ts.client().Get("/metrics"), 401, "invalid_api_key", "API key");
  EXPECT_EQ(ts.client().Get("/health")->status, 200);  // load balancers ask without a key
  expect_error(ts.post(ask(std::string(8000, 'a'), ""), {{"Authorization", "Bearer sesame"}}), 413, "body_too_large",
               "--max-body-mb");
}

TEST(Server, AFullQueueGets429WithRetryAfter) {
  ServerOptions o;
  o.parallel = 1;
  o.queue = 0;
  TestServer ts(o);
  Admission::Slot held;  // the one slot, busy
  ASSERT_EQ(ts.server.admission().enter(std::nullopt, &held), Admission::Outcome::Admitted);
  auto r = ts.post(ask("hi", ""));
  expect_error(r, 429, "queue_full", "busy");
  EXPECT_EQ(r->get_header_value("Retry-After"), "1");
  held.release();
  EXPECT_EQ(ts.post(ask("hi", "", {{"max_tokens", 2}}))->status, 200);
}

TEST(Server, ConcurrentRequestsAreAllAnsweredAndCounted) {
  ServerOptions o;
  o.parallel = 2;
  o.queue = 32;
  TestServer ts(o);
  const std::string uri = data_uri(test::read_file(kImage));
  std::atomic<int> ok{0}, bad{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 6; ++c)
    clients.emplace_back([&, c] {
      for (int i = 0; i < 3; ++i) {
        const bool malformed = (c + i) % 3 == 0;
        auto r = malformed ? ts.client().Post("/v1/chat/completions", "{oops", "application/json")
                           : ts.post(ask("How many objects are there?", uri, {{"max_tokens", 4}, {"stream", c % 2 == 0}}));
        if (r && r->status == 200) ++ok;
        if (r && r->status == 400) ++bad;
      }
    });
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok.load(), 12);
  EXPECT_EQ(bad.load(), 6);
  const std::string m = ts.client().Get("/metrics")->body;
  EXPECT_NE(m.find("adallava_requests_total{status=\"200\"} 12"), std::string::npos) << m;
  EXPECT_NE(m.find("adallava_requests_total{status=\"400\"} 6"), std::string::npos) << m;
  EXPECT_NE(m.find("adallava_request_seconds_count 18"), std::string::npos) << m;
  EXPECT_NE(m.find("adallava_executed_fraction_count 12"), std::string::npos) << m;
}

// --parallel with batching (serve's default, prompts in chunks): concurrent requests at
// different budgets share steps, and each answer is the one the engine gives the request alone.
TEST(Server, BatchedRequestsAnswerAsEachDoesAlone) {
  ServerOptions o;
  o.parallel = 4;
  EngineOptions eo;
  eo.batching = true;
  eo.prefill_chunk = 16;
  TestServer ts(o, true, eo);
  const std::string png = test::read_file(kImage);
  const std::vector<double> budgets = {1.0, 0.75, 0.5, 0.875, 1.0, 0.625};
  std::vector<std::string> got(budgets.size());
  std::vector<std::thread> clients;
  for (size_t i = 0; i < budgets.size(); ++i)
    clients.emplace_back([&, i] {
      auto r = ts.post(ask("What color is the object?", data_uri(png),
                           {{"max_tokens", 8}, {"budget", budgets[i]}, {"stream", i % 2 == 1}}));
      if (!r || r->status != 200) return;
      if (i % 2 == 0) {
        got[i] = json::parse(r->body)["choices"][0]["message"]["content"];
        return;
      }
      for (const std::string& e : events(r->body))
        if (e != "[DONE]") got[i] += json::parse(e)["choices"][0]["delta"].value("content", "");
    });
  for (auto& t : clients) t.join();
  const auto engine = Engine::load(kModel);
  for (size_t i = 0; i < budgets.size(); ++i) {
    Request req;
    req.image = decode_image(reinterpret_cast<const uint8_t*>(png.data()), png.size(), "x");
    req.prompt = "What color is the object?";
    req.max_new_tokens = 8;
    req.plan.budget = budgets[i];
    EXPECT_EQ(got[i], engine->generate(req).text) << "budget " << budgets[i];
  }
  const std::string m = ts.client().Get("/metrics")->body;
  EXPECT_NE(m.find("adallava_batch_steps_total"), std::string::npos) << m;
  EXPECT_NE(m.find("adallava_batch_entry_seconds "), std::string::npos) << m;
  EXPECT_NE(m.find("adallava_batch_request_steps_total"), std::string::npos) << m;
}

TEST(Base64, RoundTripsAndDecodesStrictly) {
  for (const std::string& s : std::vector<std::string>{"", "h", "he", "hel", "hello", std::string("\0\xff\x10", 3)})
    EXPECT_EQ(decode_base64(encode_base64(s)), s);
  EXPECT_EQ(decode_base64("aGVsbG8="), "hello");
  EXPECT_EQ(decode_base64("aGVsbG8h"), "hello!");
  EXPECT_EQ(decode_base64("aGVs\nbG8="), "hello");
  EXPECT_FALSE(decode_base64("aGVsbG8"));
  EXPECT_FALSE(decode_base64("aGV*bG8="));
}

}  // namespace
}  // namespace adallava::server

namespace adallava::server {
namespace {

TEST(LoadGenerator, AShortRunAnswersEveryGoodRequestAndMetricsAgree) {
  ServerOptions o;
  o.parallel = 2;
  o.queue = 64;
  o.api_key = "k";
  TestServer ts(o);
  LoadOptions l;
  l.url = "http://127.0.0.1:" + std::to_string(ts.port);
  l.clients = 4;
  l.duration_s = 3;
  l.rate = 12;
  l.malformed = 0.3;
  l.deadline_ms = 5000;
  l.max_tokens = 4;
  l.image = kImage;
  l.api_key = "k";
  const json r = run_load(l);
  EXPECT_GT(r["good_requests"].get<int>(), 0) << r.dump();
  EXPECT_EQ(r["good_answered"], r["good_requests"]) << r.dump();
  EXPECT_GT(r["bad_requests"].get<int>(), 0) << r.dump();
  EXPECT_EQ(r["bad_refused_with_json_error"], r["bad_requests"]) << r.dump();
  EXPECT_TRUE(r["metrics_match"].get<bool>()) << r.dump();
  EXPECT_TRUE(r["failures"].empty()) << r.dump();
  EXPECT_THROW(
      [] {
        LoadOptions remote;
        remote.url = "http://example.com:80";
        run_load(remote);
      }(),
      adallava::Error);
}

}  // namespace
}  // namespace adallava::server
