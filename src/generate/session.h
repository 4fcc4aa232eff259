// One request's state over a loaded model: its execution plan, KV cache and position. The
// model stays immutable and can be shared by sessions.
//
// An AdaLLaVA prefill appends the latency token of the request's budget as the last prompt
// row, runs the prefix layers, lets the scheduler (or a baseline policy) pick the plan from the
// latency token's state, allocates KV cache only for what the plan runs, and runs the rest.
// Every decoded token then reuses that plan.
#pragma once
#include <functional>
#include <optional>
#include <vector>

#include "adaptive/plan_policy.h"
#include "generate/sampler.h"
#include "llava/llava.h"

namespace adallava {

// How the plan of a request is chosen.
struct PlanRequest {
  double budget = 1.0;  // fraction of the full model in [0, 1] (AdaLLaVA checkpoints only)
  PlanPolicy policy;
};

// What was chosen, for reports and tests.
struct PlanReport {
  bool adaptive = false;  // an AdaLLaVA checkpoint (a latency token was appended)
  double budget = 1.0;
  int units = 0;
  std::string source = "full";  // full, scheduler, early-exit, random, layers
  ExecutionPlan plan;
  double executed_fraction = 1.0;
  double scheduler_ms = 0;                               // latency token lookup + scheduler head + selection
  std::vector<float> scheduler_input, scheduler_logits;  // AdaLLaVA with the scheduler
};

// FastV for a prefill: the image rows [first, first + count) of the prompt, ranked by the
// head-averaged attention the last text row pays them in layer k-1; the share r that gets the
// least is dropped from layer k on (their K/V too). Kept rows keep their positions.
struct FastVRequest {
  int k = 2;
  double r = 0.5;
  int64_t first = 0, count = 0;
};

// A request's decoder input: the prompt's embeddings with the image rows spliced in, where
// they are, and FastV's request for the prefill when the selection is FastV.
struct Prompt {
  std::vector<float> embeds;  // (rows, hidden)
  int64_t rows = 0, image_rows = 0;
  std::optional<FastVRequest> fastv;
  const FastVRequest* fastv_request() const { return fastv ? &*fastv : nullptr; }
};

// features: the image's rows from encode_image (with PruMerge already applied), or null.
Prompt build_prompt(const LlavaModel& model, const std::vector<int64_t>& ids, const std::vector<float>* features,
                    const TokenSelection& selection);

struct BatchEntry;
struct StepTiming;
class StepBatcher;

class Session {
 public:
  // capacity: most tokens this request will hold (prompt rows, latency token, generated tokens).
  Session(const LlavaModel& model, int64_t capacity, Precision precision);

  // Runs the prompt embeddings (T, hidden), choosing the plan as the request says. Writes
  // logits of the last row (vocab) or, when all_rows, of every row. For AdaLLaVA the latency
  // token is the last row (T + 1 rows in all). layer_outputs as in LlamaDecoder::run_layers.
  // With fastv, the rows it drops have no logits: all_rows gives the kept rows, in order.
  // The plan prefill would run, without running past the scheduler: the prefix layers only (the
  // plan of a plain model or a fixed policy needs no layer). Leaves the session spent.
  PlanReport choose_only(const float* embeds, int64_t T, const PlanRequest& request, const FastVRequest* fastv);
  PlanReport prefill(const float* embeds, int64_t T, const PlanRequest& request, std::vector<float>& logits,
                     bool all_rows = false, std::vector<float>* layer_outputs = nullptr,
                     const FastVRequest* fastv = nullptr);
  // Feeds one token id under the prefill's plan; logits of the next position.
  void feed_token(int64_t id, std::vector<float>& logits);
  // Stops running these layers for the rest of the request (one that fell behind its deadline
  // narrows its plan). Only layers that run can be dropped: their cached K/V are kept but no
  // longer read, and a skipped layer never needs any.
  void drop_layers(const std::vector<int>& layers);

  int64_t position() const { return cache_.length(); }
  // A chunked prefill (BatchEntry::chunk_rows) has begun and not yet ended.
  bool prefilling() const { return chunked_.active; }
  const KvCache& cache() const { return cache_; }
  const ExecutionPlan& plan() const { return plan_; }
  // The prompt rows FastV kept (all of them without FastV), ascending, and how many it dropped.
  const std::vector<int64_t>& kept_rows() const { return kept_; }
  int64_t dropped_rows() const { return dropped_; }
  // FLOPs of the prefill that ran under `plan` (its report's), FastV's cut included.
  double prefill_flops(const ExecutionPlan& plan) const;

 private:
  // Runs layers [l0, l1) on x (T rows, at `positions` or else the next ones) under plan_.
  void run(float* x, int64_t T, int l0, int l1, std::vector<float>* layer_outputs, const int64_t* positions = nullptr);
  // The prefill's layers [l0, l1): FastV's cut, when its layer falls inside, shrinks x and T.
  void run_prompt(std::vector<float>& x, int64_t& T, int l0, int l1, std::vector<float>* layer_outputs,
                  const FastVRequest* fastv);
  // Logits of the last row (or all rows) of x (T rows); the request advances by `advance` positions.
  void finish(const float* x, int64_t T, std::vector<float>& logits, bool all_rows, int64_t advance);
  // The prefill in parts, so that a batched step can run many requests' layers together.
  // begin: the decoder rows (latency token appended for AdaLLaVA), their positions in kept_,
  // and the plan where the request fixes it (the full plan while the scheduler has not chosen).
  std::vector<float> begin_prefill(const float* embeds, int64_t T, const PlanRequest& request, PlanReport& rep,
                                   const FastVRequest* fastv);
  // The layer the scheduler chooses the plan before: the prefix's end (all layers for plain LLaVA).
  int plan_layer() const;
  // After the prefix layers ran on x (T rows): the scheduler picks the plan, if the request asks.
  void choose_plan(const float* x, int64_t T, const PlanRequest& request, PlanReport& rep);
  // Once every layer ran: `rows` positions covered, T rows left after FastV.
  void end_prefill(int64_t rows, int64_t T, PlanReport& rep);
  friend void step_batch(std::vector<BatchEntry>& batch);
  friend struct BatchedPrefill;

  const LlavaModel& model_;
  ExecutionPlan plan_;
  Precision precision_;
  KvCache cache_;
  std::vector<int64_t> kept_;  // prompt rows the layers after FastV's cut hold
  int64_t dropped_ = 0;        // prompt rows FastV dropped
  int cut_ = 0;                // the layer they are gone from (the layer count without FastV)
  // A prefill that batched steps run in chunks: the decoder rows (past the prefix layers for the
  // rows that went through them), and how many rows went through the prefix and the rest.
  struct Chunked {
    std::vector<float> x;
    int64_t prefix_done = 0, rest_done = 0;
    bool active = false;
  };
  Chunked chunked_;
};

struct GenerateOptions {
  int max_new_tokens = 128;
  bool ignore_eos = false;
  SamplingParams sampling;
  Precision precision = Precision::F32;
  PlanRequest plan;
  std::optional<TokenSelection> token_selection;  // default: the checkpoint's (PruMerge for its checkpoints)
  std::function<bool(int64_t)> on_token;  // called for each generated id; false stops the request
  // Called after the image encode, before the prefill, with the plan request it will run and the
  // decoder rows of the prompt (a deadline controller re-plans here when the encode took longer
  // than planned, or token selection left fewer rows).
  std::function<void(PlanRequest&, int64_t)> before_prefill;
  // Called before each decode step with the session, the prefill's plan report and the tokens
  // generated so far (a deadline controller narrows the plan here).
  std::function<void(Session&, const PlanReport&, int64_t)> before_step;
  // When set, the prefill and every decode step run batched with the other requests that use
  // the same batcher at the same time (each still samples, stops and streams on its own).
  StepBatcher* batcher = nullptr;
  // With a batcher: the timing of the step after `produced` tokens (0: the prefill), for the
  // batcher to keep a request with a deadline on plan (a deadline controller predicts it).
  std::function<StepTiming(const Session&, int64_t)> step_timing;
  // With a batcher: prompt rows per step (BatchEntry::chunk_rows; 0: the whole prompt at once).
  int64_t prefill_chunk = 0;
};

struct GenerateResult {
  std::vector<int64_t> ids;                     // generated ids (EOS included if it ended the answer)
  std::vector<std::vector<float>> step_logits;  // when requested: logits before each choice
  int64_t prompt_rows = 0;                      // decoder prompt length (image rows and latency token included)
  int64_t image_rows = 0;       // rows the image took in the prompt (after PruMerge, before FastV)
  int64_t image_rows_kept = 0;  // of those, the rows the last layer saw (FastV drops some)
  PlanReport plan;
  double vision_ms = 0, prefill_ms = 0, decode_ms = 0, total_ms = 0;
  bool stopped_at_eos = false;
  bool cancelled = false;  // on_token returned false
};

// Full request: encode the image (if any), merge, prefill, decode. pixels may be null.
GenerateResult generate(const LlavaModel& model, const std::vector<int64_t>& ids, const float* pixels,
                        const GenerateOptions& opts, bool keep_step_logits = false);

// Logits of every prompt row (T, vocab), latency token included for AdaLLaVA; *rows gets T.
std::vector<float> all_logits(const LlavaModel& model, const std::vector<int64_t>& ids, const float* pixels,
                              Precision precision, const PlanRequest& request, int64_t* rows,
                              PlanReport* report = nullptr, const TokenSelection* selection = nullptr);

// The plan a prompt gets: the scheduler's choice for AdaLLaVA, after the prefix layers only.
PlanReport prompt_plan(const LlavaModel& model, const std::vector<int64_t>& ids, const float* pixels,
                       Precision precision, const PlanRequest& request, const TokenSelection* selection = nullptr);

}  // namespace adallava
