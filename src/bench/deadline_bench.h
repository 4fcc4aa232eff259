// The deadline benchmark: a stream of requests against one deadline, under each plan policy —
// adaptive (the engine picks each request's budget from the deadline, narrows and stops as it
// goes), fixed:B (always budget B) and static (one budget picked from the quiet calibration
// for the deadline, never changed) — and how often each misses, its latency percentiles,
// budgets, accuracy where answers are known, goodput and the latency model's error.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/engine.h"

namespace adallava {

struct DeadlineBenchOptions {
  double deadline_ms = 0;
  int requests = 50;
  std::string arrival;  // "" (back to back) or "poisson:RATE" (requests per second)
  std::vector<std::string> policies = {"adaptive", "fixed:1", "static"};
  int max_new_tokens = 8;
  uint64_t seed = 1;
  std::optional<TokenSelection> token_selection;  // default: the checkpoint's
};

// A request and, where known, its answer (one word).
struct BenchRequest {
  std::optional<RgbImage> image;
  std::vector<int64_t> ids;
  std::string answer;
};

// Fresh synthetic scenes with a question each and its answer (the shipped models' kind of data).
std::vector<BenchRequest> scene_requests(const Engine& e, int n, uint64_t seed);
// Random images and prompts of the model's shapes (timings only).
std::vector<BenchRequest> random_requests(const Engine& e, int n, int prompt_tokens, uint64_t seed);

// {"deadline_ms", "requests", "arrival", "results": [{"policy", "violation_rate", ...}, ...]}
nlohmann::json bench_deadline(const Engine& e, const std::vector<BenchRequest>& requests,
                              const DeadlineBenchOptions& o);

}  // namespace adallava
