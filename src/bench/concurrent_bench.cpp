#include "bench/concurrent_bench.h"

#include <chrono>
#include <memory>
#include <random>

#include "generate/batch_step.h"
#include "generate/sampler.h"
#include "model/batch_spans.h"
#include "report/stats.h"

namespace adallava {

namespace {

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// c requests of the same random prompt, request i at budget budgets[i % size], prefilled in one
// batched step (the time is reported; the decode is what is compared).
struct Requests {
  std::vector<std::unique_ptr<Session>> sessions;
  std::vector<std::vector<float>> logits;
  std::vector<PlanReport> reports;
  double prefill_ms = 0;
};

Requests start(const LlavaModel& model, const Prompt& prompt, const std::vector<double>& budgets, int c,
               const ConcurrentBenchOptions& o) {
  Requests r;
  r.logits.resize(size_t(c));
  r.reports.resize(size_t(c));
  std::vector<BatchEntry> batch;
  for (int i = 0; i < c; ++i) {
    r.sessions.push_back(std::make_unique<Session>(model, prompt.rows + 1 + o.decode_tokens, o.precision));
    BatchEntry e{r.sessions.back().get()};
    e.prompt = &prompt;
    e.request.budget = model.adaptive() ? budgets[size_t(i) % budgets.size()] : 1.0;
    e.logits = &r.logits[size_t(i)];
    e.report = &r.reports[size_t(i)];
    batch.push_back(e);
  }
  const auto t0 = std::chrono::steady_clock::now();
  step_batch(batch);
  r.prefill_ms = ms_since(t0);
  return r;
}

// Greedy decode of every request: together (one batched step per token) or one request after
// the other. Returns each step's time in ms (a step is one token of every request when batched).
std::vector<double> decode(const LlavaModel& model, Requests& r, int tokens, bool batched) {
  const int64_t V = model.decoder().vocab();
  std::vector<double> step_ms;
  if (batched) {
    for (int t = 0; t < tokens; ++t) {
      std::vector<BatchEntry> batch;
      for (size_t i = 0; i < r.sessions.size(); ++i) {
        BatchEntry e{r.sessions[i].get(), argmax(r.logits[i].data(), V)};
        e.logits = &r.logits[i];
        batch.push_back(e);
      }
      const auto t0 = std::chrono::steady_clock::now();
      step_batch(batch);
      step_ms.push_back(ms_since(t0));
    }
    return step_ms;
  }
  for (size_t i = 0; i < r.sessions.size(); ++i)
    for (int t = 0; t < tokens; ++t) {
      const auto t0 = std::chrono::steady_clock::now();
      r.sessions[i]->feed_token(argmax(r.logits[i].data(), V), r.logits[i]);
      step_ms.push_back(ms_since(t0));
    }
  return step_ms;
}

double sum(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s;
}

struct Level {
  std::vector<double> batched, alone, full;  // step times of the fastest round of each setting
  double prefill_ms = 1e300;
  double layer_bytes_per_step = 0;  // weight bytes the batched decode's layer products read
  std::vector<PlanReport> reports;
};

void keep_faster(std::vector<double>& best, std::vector<double> now) {
  if (best.empty() || sum(now) < sum(best)) best = std::move(now);
}

}  // namespace

nlohmann::json bench_concurrent(const LlavaModel& model, const ConcurrentBenchOptions& o) {
  const int64_t H = model.decoder().hidden(), V = model.decoder().vocab();
  std::mt19937 rng(3);
  std::vector<int64_t> ids(size_t(o.prompt_tokens));
  for (auto& id : ids) id = int64_t(rng() % uint64_t(V - 1));
  Prompt prompt;
  prompt.rows = o.prompt_tokens;
  prompt.embeds.resize(size_t(o.prompt_tokens * H));
  model.decoder().embed(prompt.embeds.data(), ids.data(), o.prompt_tokens);

  std::vector<Level> levels(o.levels.size());
  for (int round = 0; round < o.repeats; ++round)
    for (size_t k = 0; k < o.levels.size(); ++k) {  // settings interleaved: drift hits them alike
      const int c = o.levels[k];
      Requests mixed = start(model, prompt, o.budgets, c, o);
      levels[k].prefill_ms = std::min(levels[k].prefill_ms, mixed.prefill_ms);
      levels[k].reports = mixed.reports;
      const double bytes0 = batched_bytes();
      keep_faster(levels[k].batched, decode(model, mixed, o.decode_tokens, true));
      levels[k].layer_bytes_per_step = (batched_bytes() - bytes0) / o.decode_tokens;
      Requests alone = start(model, prompt, o.budgets, c, o);
      keep_faster(levels[k].alone, decode(model, alone, o.decode_tokens, false));
      Requests full = start(model, prompt, {1.0}, c, o);
      keep_faster(levels[k].full, decode(model, full, o.decode_tokens, true));
    }

  nlohmann::json results = nlohmann::json::array();
  for (size_t k = 0; k < o.levels.size(); ++k) {
    const Level& L = levels[k];
    const int c = o.levels[k];
    const double tokens = double(c) * o.decode_tokens;
    double alone_bytes = 0;
    for (const PlanReport& r : L.reports) alone_bytes += double(model.decoder().weight_bytes(&r.plan)) / double(c);
    // What the steps read (a masked span reads the gaps it covers) and the lm_head, per token.
    const ExecutionPlan none = ExecutionPlan::layers({}, model.config().text.num_layers, model.config().text.num_heads);
    const double bytes = (L.layer_bytes_per_step + double(model.decoder().weight_bytes(&none))) / double(c);
    nlohmann::json j;
    j["concurrent"] = c;
    j["aggregate_decode_tokens_per_s"] = tokens * 1000 / sum(L.batched);
    j["one_at_a_time_decode_tokens_per_s"] = tokens * 1000 / sum(L.alone);
    j["speedup_over_one_at_a_time"] = sum(L.alone) / sum(L.batched);
    j["full_plan_aggregate_decode_tokens_per_s"] = tokens * 1000 / sum(L.full);
    j["over_full_plan_batch"] = sum(L.full) / sum(L.batched);
    j["p50_token_ms"] = median(L.batched);  // every request gets one token per step
    j["p95_token_ms"] = percentile(L.batched, 0.95);
    j["p50_token_ms_alone"] = median(L.alone);
    j["p50_latency_over_alone"] = median(L.batched) / median(L.alone);
    j["executed_fractions"] = nlohmann::json::array();
    for (const PlanReport& r : L.reports) j["executed_fractions"].push_back(r.executed_fraction);
    j["weight_bytes_per_token"] = bytes;
    // Relative to batch 1: the same requests one at a time, each reading its own plan's weights.
    j["weight_bytes_per_token_over_batch1"] = bytes / alone_bytes;
    j["batched_prefill_ms"] = L.prefill_ms;
    results.push_back(j);
  }
  return {{"budgets", o.budgets},
          {"prompt_tokens", o.prompt_tokens},
          {"decode_tokens", o.decode_tokens},
          {"precision", precision_name(o.precision)},
          {"results", results}};
}

}  // namespace adallava
