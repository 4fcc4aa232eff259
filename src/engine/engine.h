// The library's front door: a loaded model and everything answering a request takes. The CLI's
// run and logits commands and eval build their prompts here; the server and the bindings will
// call the same functions. The model is immutable after load: one Engine serves concurrent
// requests, each with its own session.
#pragma once
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "adaptive/latency_model.h"
#include "generate/session.h"
#include "generate/step_batcher.h"
#include "llava/llava.h"
#include "text/tokenizer.h"
#include "vision/image.h"

namespace adallava {

struct EngineOptions {
  std::string vision_tower;              // CLIP folder for original-layout checkpoints without one
  std::optional<Precision> precision;    // default: bf16 for bf16 weights where the CPU has a bf16 kernel
  // Folder of calibration files (adaptive/latency_cache.h); default: default_cache_dir(); "": none.
  std::optional<std::string> calibration_cache;
  std::string mmproj;                    // llama.cpp mmproj GGUF, with a GGUF text model
  // Requests generating at the same time on different threads run their prefills and decode
  // steps batched (generate/step_batcher.h): the server's --parallel slots share weight reads.
  bool batching = false;
  // With batching: prompt rows per batched step (0: a whole prompt in one step). Chunks keep a
  // long prompt from stalling the requests decoding beside it for its whole length.
  int64_t prefill_chunk = 0;
};

// One request. The prompt is either a question (wrapped in the chat template, with the image
// marker when there is an image) or exact token ids (the checkpoint's image token marks the image).
struct Request {
  std::optional<RgbImage> image;
  std::string prompt;
  std::vector<int64_t> ids;
  std::string template_name = "vicuna_v1";
  bool raw_prompt = false;  // the prompt text as is, without a template
  int max_new_tokens = 128;
  bool ignore_eos = false;
  SamplingParams sampling;
  PlanRequest plan;
  // Finish the whole request (encode, prefill, decode) within this many ms of its start: the
  // engine picks the budget (plan.budget is then ignored) and stops decoding when the next
  // token would come too late.
  std::optional<double> deadline_ms;
  // Which image tokens run (PruMerge, PruMerge+, FastV); default: the checkpoint's own.
  std::optional<TokenSelection> token_selection;
};

// A generated token, with the text it adds (empty while a multi-byte character is split).
struct TokenEvent {
  int64_t id;
  std::string text;
};
// Called for each generated token; returning false stops the request.
using TokenCallback = std::function<bool(const TokenEvent&)>;

struct Response {
  std::string text;
  std::vector<int64_t> ids, prompt_ids;
  int64_t prompt_rows = 0;  // decoder prompt length (image rows and latency token included)
  std::string token_selection;  // the selection that ran: none, prumerge, prumerge+, fastv:K,R
  int64_t image_rows = 0;       // rows the image took in the prompt (after PruMerge)
  int64_t image_rows_kept = 0;  // of those, the rows the last decoder layer saw (FastV drops some)
  std::string finish_reason;  // "stop" (end of sequence), "length", "cancelled" or "deadline"
  PlanReport plan;
  double vision_ms = 0, prefill_ms = 0, decode_ms = 0, total_ms = 0;
  // With a deadline: it, what the latency model predicted for the planned request, and whether
  // the request finished in time.
  std::optional<double> deadline_ms;
  Phases predicted;
  Phases predicted_as_run;  // the same for what ran (its tokens and plan): the model's error
  bool met = true;
  int narrowed_layers = 0;  // gated layers the request stopped running to keep its deadline
  int narrowed_before_prefill = 0;  // units given up after an encode that ran late
  int threads = 0;          // threads the request ran with (the engine picks them for a deadline)
  double planning_ms = 0;   // the deadline's planning and control checks, within total_ms
};

class Engine {
 public:
  // Loads a checkpoint folder and its tokenizer (when the folder has one).
  static std::unique_ptr<Engine> load(const std::string& dir, const EngineOptions& options = {});
  Engine(std::unique_ptr<LlavaModel> model, const EngineOptions& options);

  const LlavaModel& model() const { return *model_; }
  Precision precision() const { return precision_; }
  const Tokenizer* tokenizer() const { return tokenizer_ ? &*tokenizer_ : nullptr; }
  // The tokenizer; throws Error naming the missing file when the folder has none.
  const Tokenizer& require_tokenizer() const;

  // The request's prompt as token ids: the one place a question becomes a prompt.
  std::vector<int64_t> prompt_ids(const Request& r) const;
  // A question in the template, as token ids; add_image_marker puts the image before it.
  std::vector<int64_t> question_ids(const std::string& question, bool add_image_marker,
                                    const std::string& template_name = "vicuna_v1") const;
  // CLIP pixel values (3, S, S) of an image; throws Error when the model has no vision tower.
  std::vector<float> pixels(const RgbImage& image) const;

  Response generate(const Request& r, const TokenCallback& on_token = {}) const;
  // Throws InfeasibleDeadline when generate would refuse the request's deadline (no plan fits):
  // for callers that must answer before the work starts (the server's streamed responses).
  void check_deadline(const Request& r) const;
  // A copy of the latency model of a thread count (0: the most threads), calibrated on first
  // use, then corrected by every request with a deadline that ran with that many threads.
  LatencyModel latency_model(int threads = 0) const;
  // The batcher of EngineOptions::batching (null without): its step counts for reports.
  const StepBatcher* batcher() const { return batcher_.get(); }
  // The calibration file the latency models came from or went to ("" without a cache), and
  // whether they were read from it rather than measured. Calibrates on first use.
  std::string calibration_file() const;
  bool calibration_cached() const;
  // The decoder rows a request's prompt takes (image rows and latency token included).
  int64_t prompt_rows(const std::vector<int64_t>& ids, bool image) const;
  // Logits of every prompt row (rows, vocab), the latency token last for AdaLLaVA; with FastV,
  // of the rows it kept.
  std::vector<float> logits(const Request& r, int64_t* rows, PlanReport* report = nullptr) const;
  // The plan the request's prompt gets at its budget (runs only as far as the scheduler).
  PlanReport plan(const Request& r) const;

 private:
  std::vector<int64_t> encode_text(const std::string& text) const;
  // What the latency model predicts for: the request with these prompt ids, no units chosen yet.
  RequestShape shape_of(const Request& r, const std::vector<int64_t>& ids) const;
  // The models of 1 .. most threads, calibrated on first use (under latency_mutex_).
  std::vector<LatencyModel>& latency_models() const;
  // The deadline's plan: the thread count predicted fastest now, the largest plan that fits
  // with it; sets g's budget and shape's units, fills out's prediction; returns the threads.
  int plan_deadline(double deadline_ms, RequestShape& shape, GenerateOptions& g, Response& out) const;

  std::unique_ptr<LlavaModel> model_;
  std::optional<Tokenizer> tokenizer_;
  Precision precision_;
  mutable std::mutex latency_mutex_;
  mutable std::vector<LatencyModel> latency_;  // [threads - 1]
  std::string cache_dir_;
  mutable std::string calibration_file_;
  mutable bool calibration_cached_ = false;
  std::unique_ptr<StepBatcher> batcher_;  // with EngineOptions::batching
  int64_t prefill_chunk_ = 0;             // EngineOptions::prefill_chunk
};

// The default precision for a model on this CPU.
Precision default_precision(const LlavaModel& model);

}  // namespace adallava
