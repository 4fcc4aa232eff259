// One step of several requests at once (continuous batching): requests decoding a token and
// requests prefilling their prompt run together, each under its own execution plan, in one
// pass over the weights per layer (model/batched_layers.h). Each request's logits equal a solo
// run's within the fixtures' tolerance; sampling, stop rules and deadlines stay per request.
#pragma once
#include <cstdint>
#include <limits>
#include <vector>

#include "generate/session.h"

namespace adallava {

// What a request's deadline asks of its next step: its predicted cost alone, and when (steady
// clock, ms) the step must end for the request to stay on plan. Without a deadline: due never.
struct StepTiming {
  double cost_ms = 0;
  double due_ms = std::numeric_limits<double>::infinity();
  bool prefill = false;
};

struct BatchEntry {
  BatchEntry() = default;
  // A decode step feeding `token`, or (token -1, then a prompt set) a prefill.
  explicit BatchEntry(Session* s, int64_t tok = -1) : session(s), token(tok) {}

  Session* session = nullptr;
  // Decode: the token to feed. Prefill: a prompt (with `request` choosing its plan); a FastV
  // prompt prefills on its own first (its cut needs the layers in between).
  int64_t token = -1;
  const Prompt* prompt = nullptr;
  PlanRequest request;
  // Prefill: at most this many prompt rows per step (0: the whole prompt in one step). A chunked
  // prompt takes every chunk through the prefix layers first (AdaLLaVA's scheduler reads the
  // last row there), then through the rest; hand the same entry in again while
  // session->prefilling(). The logits come with the last chunk.
  int64_t chunk_rows = 0;
  std::vector<float>* logits = nullptr;  // out: the logits of the request's next position
  PlanReport* report = nullptr;          // out, prefill: the plan that was chosen
  StepTiming timing;                     // a deadline's view of this step (StepBatcher orders by it)
};

// Sessions must be distinct and share one model and precision.
void step_batch(std::vector<BatchEntry>& batch);

}  // namespace adallava
