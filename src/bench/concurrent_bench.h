// Many requests decoding at once, each under its own plan: batched steps (generate/batch_step.h)
// against the same requests decoded one at a time, and against a batch whose requests all run
// the full model, measured side by side in one run (interleaved rounds, fastest kept).
#pragma once
#include <nlohmann/json.hpp>
#include <vector>

#include "llava/llava.h"

namespace adallava {

struct ConcurrentBenchOptions {
  std::vector<int> levels = {1, 2, 4, 8};  // requests decoding at once
  std::vector<double> budgets = {1.0};     // request i gets budgets[i % size]
  int prompt_tokens = 32, decode_tokens = 16, repeats = 1;
  Precision precision = Precision::F32;
};

// {"budgets", "prompt_tokens", "decode_tokens", "results": [{"concurrent",
//  "aggregate_decode_tokens_per_s", "one_at_a_time_decode_tokens_per_s", "speedup_over_one_at_a_time",
//  "full_plan_aggregate_decode_tokens_per_s", "over_full_plan_batch", "p50_token_ms", "p95_token_ms",
//  "p50_token_ms_alone", "p50_latency_over_alone", "weight_bytes_per_token",
//  "weight_bytes_per_token_over_batch1" (the same requests one at a time = 1), "batched_prefill_ms"}, ...]}
nlohmann::json bench_concurrent(const LlavaModel& model, const ConcurrentBenchOptions& o);

}  // namespace adallava
