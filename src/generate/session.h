// One request's state over a loaded model: its execution plan, KV cache and position. The
// model stays immutable and can be shared by sessions.
#pragma once
#include <functional>
#include <vector>

#include "generate/sampler.h"
#include "model/llava.h"

namespace adallava {

class Session {
 public:
  // capacity: most tokens this request will hold (prompt rows + generated tokens).
  Session(const LlavaModel& model, int64_t capacity, ExecutionPlan plan, Precision precision);

  // Runs the decoder over embeddings (T, hidden) of the next T positions. Writes logits of the
  // last row (vocab) or, when all_rows, of every row (T, vocab).
  void forward(const float* embeds, int64_t T, std::vector<float>& logits, bool all_rows = false);
  // Feeds one token id; logits of the next position.
  void feed_token(int64_t id, std::vector<float>& logits);

  int64_t position() const { return cache_.length(); }
  const KvCache& cache() const { return cache_; }
  const ExecutionPlan& plan() const { return plan_; }

 private:
  const LlavaModel& model_;
  ExecutionPlan plan_;
  Precision precision_;
  KvCache cache_;
};

struct GenerateOptions {
  int max_new_tokens = 128;
  bool ignore_eos = false;
  SamplingParams sampling;
  Precision precision = Precision::F32;
  std::function<void(int64_t)> on_token;  // called for each generated id
};

struct GenerateResult {
  std::vector<int64_t> ids;             // generated ids (EOS included if it ended the answer)
  std::vector<std::vector<float>> step_logits;  // when requested: logits before each choice
  int64_t prompt_rows = 0;              // merged prompt length (image rows included)
  double vision_ms = 0, prefill_ms = 0, decode_ms = 0, total_ms = 0;
  bool stopped_at_eos = false;
};

// Full request: encode the image (if any), merge, prefill, decode. pixels may be null.
GenerateResult generate(const LlavaModel& model, const std::vector<int64_t>& ids, const float* pixels,
                        const GenerateOptions& opts, bool keep_step_logits = false);

// Logits of every position of the merged sequence (T, vocab); *rows gets T.
std::vector<float> all_logits(const LlavaModel& model, const std::vector<int64_t>& ids, const float* pixels,
                              Precision precision, int64_t* rows);

}  // namespace adallava
