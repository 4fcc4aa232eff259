#include "bench/deadline_bench.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>
#include <thread>

#include "adaptive/budget.h"
#include "adaptive/deadline.h"
#include "eval/vqa_eval.h"
#include "report/stats.h"
#include "synth/questions.h"
#include "synth/scene.h"
#include "tensor/error.h"

namespace adallava {

namespace {

using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// Offsets (ms from the start) at which the requests arrive in a Poisson process of the given
// rate; none when back to back (each arrives as the one before ends).
std::vector<double> arrivals(const std::string& spec, int n, uint64_t seed) {
  if (spec.empty()) return {};
  std::vector<double> at(size_t(n), 0.0);
  const std::string prefix = "poisson:";
  double rate = 0;
  try {
    if (spec.rfind(prefix, 0) == 0) rate = std::stod(spec.substr(prefix.size()));
  } catch (const std::exception&) {
  }
  if (!(rate > 0) || !std::isfinite(rate))
    throw OptionError("arrival", "'" + spec + "' is not poisson:RATE with a rate above 0 (requests per second)");
  std::mt19937_64 rng(seed);
  std::exponential_distribution<double> gap(rate / 1000.0);
  double t = 0;
  for (double& a : at) a = (t += gap(rng));
  return at;
}

struct Policy {
  enum Kind { Adaptive, Fixed, Static } kind = Adaptive;
  double budget = 1;
  std::string name;
};

Policy parse_policy(const std::string& text, const Engine& e) {
  Policy p;
  p.name = text;
  if (text == "adaptive") return p;
  if (text == "static") {
    p.kind = Policy::Static;
    return p;
  }
  if (text.rfind("fixed:", 0) == 0) {
    p.kind = Policy::Fixed;
    p.budget = parse_budget(text.substr(6), "policy " + text + ": budget");
    if (p.budget != 1.0 && !e.model().adaptive())
      throw OptionError("policy", text + ": budgets below 1 need an AdaLLaVA model");
    return p;
  }
  throw OptionError("policy", "'" + text + "' is not adaptive, static or fixed:BUDGET");
}

// One request's outcome.
struct Outcome {
  double latency_ms = 0, budget = 1, executed_fraction = 1, prediction_error = 0, threads = 0, planning_ms = 0;
  bool met = false, correct = false, answered = false;
  double start_ms = 0;  // since the policy's first request
  double epoch_s = 0;   // the arrival, seconds since the epoch (to line up with a load log)
};

Outcome run_one(const Engine& e, const BenchRequest& br, const Policy& p, double deadline_left, double static_budget,
                const DeadlineBenchOptions& opts) {
  Request r;
  r.image = br.image;
  r.ids = br.ids;
  r.max_new_tokens = opts.max_new_tokens;
  r.token_selection = opts.token_selection;
  if (p.kind == Policy::Adaptive) r.deadline_ms = std::max(deadline_left, 1e-3);
  else r.plan.budget = p.kind == Policy::Fixed ? p.budget : static_budget;
  Outcome o;
  try {
    const Response resp = e.generate(r);
    o.latency_ms = resp.total_ms;
    o.budget = resp.plan.budget;
    o.executed_fraction = resp.plan.executed_fraction;
    o.threads = resp.threads;
    o.planning_ms = resp.planning_ms;
    if (resp.deadline_ms) {  // the model's error on what ran (the plan was for every token)
      const double ran = resp.vision_ms + resp.prefill_ms + resp.decode_ms;
      o.prediction_error = std::abs(resp.predicted_as_run.total() - ran) / ran;
    }
    o.answered = true;
    if (!br.answer.empty() && e.tokenizer())
      o.correct = eval::normalise_answer(resp.text) == eval::normalise_answer(br.answer);
  } catch (const InfeasibleDeadline&) {  // refused, so missed
    o.latency_ms = 0;
  }
  return o;
}

nlohmann::json summary(const Policy& p, const std::vector<Outcome>& out, double wall_s, bool answers_known) {
  std::vector<double> lat, err;
  int missed = 0, correct = 0, good = 0;
  double budget = 0, fraction = 0, threads = 0, planning = 0, total = 0;
  for (const Outcome& o : out) {
    threads += o.threads;
    planning += o.planning_ms, total += o.latency_ms;
    lat.push_back(o.latency_ms);
    if (o.prediction_error > 0) err.push_back(o.prediction_error);
    missed += !o.met;
    correct += o.correct;
    good += o.correct && o.met;
    budget += o.budget, fraction += o.executed_fraction;
  }
  const double n = double(out.size());
  nlohmann::json j = {{"policy", p.name},
                      {"violation_rate", missed / n},
                      {"p50_ms", percentile(lat, 0.5)},
                      {"p95_ms", percentile(lat, 0.95)},
                      {"p99_ms", percentile(lat, 0.99)},
                      {"mean_budget", budget / n},
                      {"mean_executed_fraction", fraction / n},
                      {"mean_threads", threads / n},
                      {"planning_fraction", total > 0 ? planning / total : 0},
                      {"wall_s", wall_s}};
  j["accuracy"] = answers_known ? nlohmann::json(correct / n) : nlohmann::json(nullptr);
  j["goodput"] = answers_known ? nlohmann::json(good / wall_s) : nlohmann::json(nullptr);
  j["within_deadline_per_s"] = (n - missed) / wall_s;
  j["prediction_error_p50"] = err.empty() ? nlohmann::json(nullptr) : nlohmann::json(percentile(err, 0.5));
  nlohmann::json trace = nlohmann::json::array();  // per request: start, latency, budget, epoch
  for (const Outcome& o : out) trace.push_back({o.start_ms, o.latency_ms, o.budget, o.epoch_s});
  j["trace"] = trace;
  return j;
}

// The requests in order, each at its arrival (or when the one before ends, if later).
std::vector<Outcome> run_policy(const Engine& e, const std::vector<BenchRequest>& reqs, const Policy& p,
                                const std::vector<double>& at, double static_budget, const DeadlineBenchOptions& o) {
  std::vector<Outcome> out;
  const auto t0 = Clock::now();
  for (size_t i = 0; i < reqs.size(); ++i) {
    const auto arrival = at.empty() ? Clock::now() : t0 + std::chrono::microseconds(int64_t(at[i] * 1000));
    if (Clock::now() < arrival) std::this_thread::sleep_until(arrival);
    const double waited = std::max(0.0, ms_between(arrival, Clock::now()));
    Outcome oc = run_one(e, reqs[i], p, o.deadline_ms - waited, static_budget, o);
    oc.start_ms = ms_between(t0, arrival);
    oc.epoch_s = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count() -
                 ms_between(arrival, Clock::now()) / 1000;
    oc.latency_ms += waited;  // queueing counts against the deadline
    oc.met = oc.answered && oc.latency_ms <= o.deadline_ms;
    out.push_back(oc);
  }
  return out;
}

}  // namespace

std::vector<BenchRequest> scene_requests(const Engine& e, int n, uint64_t seed) {
  const int size = e.model().config().vision.image_size;
  synth::Rng rng(seed);
  std::vector<BenchRequest> out;
  for (int i = 0; i < n; ++i) {
    auto [scene, qa] = synth::sample_example(rng, size);
    BenchRequest r;
    r.image = synth::render(scene);
    r.ids = e.question_ids(qa.question, /*add_image_marker=*/true);
    r.answer = qa.answer;
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<BenchRequest> random_requests(const Engine& e, int n, int prompt_tokens, uint64_t seed) {
  const ModelConfig& c = e.model().config();
  std::mt19937_64 rng(seed);
  std::vector<BenchRequest> out;
  for (int i = 0; i < n; ++i) {
    BenchRequest r;
    if (e.model().has_vision()) {
      RgbImage img;
      img.width = img.height = c.vision.image_size;
      img.pixels.resize(size_t(3 * img.width * img.height));
      for (auto& px : img.pixels) px = uint8_t(rng());
      r.image = std::move(img);
      r.ids.push_back(c.image_token_id);
    }
    for (int t = 0; t < prompt_tokens; ++t) {
      int64_t id;
      do id = int64_t(rng() % uint64_t(c.text.vocab_size - 1));
      while (id == c.image_token_id);  // one image marker per prompt
      r.ids.push_back(id);
    }
    out.push_back(std::move(r));
  }
  return out;
}

nlohmann::json bench_deadline(const Engine& e, const std::vector<BenchRequest>& requests,
                              const DeadlineBenchOptions& o) {
  if (requests.empty()) throw OptionError("requests", "needs at least one request");
  const std::vector<double> at = arrivals(o.arrival, int(requests.size()), o.seed);
  // static: one budget for the deadline from the calibration alone, on the first request's shape.
  const auto calibration_start = Clock::now();
  const LatencyModel quiet = e.latency_model();  // calibrates every thread count on first use
  const double calibration_ms = ms_between(calibration_start, Clock::now());
  const BenchRequest& first = requests.front();
  const RequestShape shape{first.image.has_value(), e.prompt_rows(first.ids, first.image.has_value()),
                           o.max_new_tokens, 0};
  const AdaLlavaParts* ada = e.model().adaptive();
  double static_budget = ada ? budget_of_units(0, ada->config) : 1.0;  // the narrowest, if none fits
  try {
    static_budget = plan_for_deadline(quiet, ada ? &ada->config : nullptr, o.deadline_ms, shape).budget;
  } catch (const InfeasibleDeadline&) {
  }
  nlohmann::json results = nlohmann::json::array();
  for (const std::string& name : o.policies) {
    const Policy p = parse_policy(name, e);
    const auto t0 = Clock::now();
    const std::vector<Outcome> out = run_policy(e, requests, p, at, static_budget, o);
    results.push_back(summary(p, out, ms_between(t0, Clock::now()) / 1000, !first.answer.empty()));
  }
  const Costs& k = quiet.costs();
  const nlohmann::json calibration = {{"vision_ms", k.vision},         {"layer_prefill_row_ms", k.layer_prefill_row},
                                      {"layer_decode_ms", k.layer_decode}, {"head_ms", k.head},
                                      {"attention_pair_ms", k.attention_pair}, {"kv_row_ms", k.kv_row}};
  const Phases c = e.latency_model().correction();
  return {{"deadline_ms", o.deadline_ms},
          {"calibration", calibration},
          {"calibration_ms", calibration_ms},
          {"calibration_cached", e.calibration_cached()},
          {"calibration_file", e.calibration_file()},
          {"final_correction", {{"vision", c.vision}, {"prefill", c.prefill}, {"decode", c.decode}}},
          {"final_margin", e.latency_model().margin()},
          {"requests", requests.size()},
          {"arrival", o.arrival.empty() ? "back-to-back" : o.arrival},
          {"static_budget", static_budget},
          {"results", results}};
}

}  // namespace adallava
