#include "bench/selection_bench.h"

#include <algorithm>
#include <chrono>
#include <random>

#include "generate/session.h"

namespace adallava {

namespace {

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

struct Run {
  double vision_ms = 1e300, prefill_ms = 1e300, gflops = 0;
  int64_t image_rows = 0, kept = 0;
};

// One request's encode and prefill under a selection; keeps the fastest times in `run`.
void measure(const LlavaModel& m, const std::vector<int64_t>& ids, const std::vector<float>& pixels,
             const TokenSelection& sel, const SelectionBenchOptions& o, Run& run) {
  auto t0 = std::chrono::steady_clock::now();
  const std::vector<float> features = m.encode_image(pixels.data(), o.precision, &sel);
  run.vision_ms = std::min(run.vision_ms, ms_since(t0));
  const Prompt prompt = build_prompt(m, ids, &features, sel);
  const int64_t rows = prompt.rows + (m.adaptive() ? 1 : 0);
  Session s(m, rows, o.precision);
  std::vector<float> logits;
  PlanRequest request;
  request.budget = m.adaptive() ? o.budget : 1.0;
  t0 = std::chrono::steady_clock::now();
  const PlanReport rep = s.prefill(prompt.embeds.data(), prompt.rows, request, logits, false, nullptr,
                                   prompt.fastv_request());
  run.prefill_ms = std::min(run.prefill_ms, ms_since(t0));
  run.image_rows = prompt.image_rows;
  run.kept = prompt.image_rows - s.dropped_rows();
  run.gflops = s.prefill_flops(rep.plan) * 1e-9;
}

}  // namespace

nlohmann::json bench_token_selection(const LlavaModel& m, const SelectionBenchOptions& o) {
  std::mt19937 rng(7);
  const int S = m.config().vision.image_size;
  std::vector<float> pixels(size_t(3 * S * S));
  std::normal_distribution<float> dist(0.f, 1.f);
  for (float& p : pixels) p = dist(rng);
  // Text, the image marker after the first few rows (as a chat template puts it), text.
  const int64_t V = m.config().text.vocab_size, image_id = m.config().image_token_id;
  std::vector<int64_t> ids;
  for (int i = 0; i < o.text_tokens; ++i) {
    int64_t id = int64_t(rng() % uint64_t(V));
    if (id == image_id) id = (id + 1) % V;
    ids.push_back(id);
    if (i == std::min(4, o.text_tokens - 1)) ids.push_back(image_id);
  }
  const TokenSelection none;
  Run full, selected;
  for (int r = 0; r < o.repeats; ++r) {
    measure(m, ids, pixels, none, o, full);
    measure(m, ids, pixels, o.selection, o, selected);
  }
  return {{"token_selection", o.selection.name()},
          {"budget", o.budget},
          {"image_tokens", full.image_rows},
          {"image_tokens_kept", selected.kept},
          {"vision_ms_full", full.vision_ms},
          {"vision_ms_selected", selected.vision_ms},
          {"prefill_ms_full", full.prefill_ms},
          {"prefill_ms_selected", selected.prefill_ms},
          {"prefill_ratio", selected.prefill_ms / full.prefill_ms},
          {"prefill_gflops_full", full.gflops},
          {"prefill_gflops_selected", selected.gflops}};
}

}  // namespace adallava
