#include "generate/session.h"

#include <chrono>
#include <numeric>

#include "tensor/error.h"

namespace adallava {

namespace {

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

void check_context(const LlavaModel& model, int64_t rows) {
  const int64_t ctx = model.config().text.max_position_embeddings;
  if (rows > ctx)
    throw Error("prompt of " + std::to_string(rows) + " tokens (image rows included) exceeds the model context of " +
                std::to_string(ctx) + " tokens (max_position_embeddings)");
}

// The decoder input of a request: image encoded (if any) and spliced into the prompt.
std::vector<float> prompt_embeddings(const LlavaModel& model, const std::vector<int64_t>& ids, const float* pixels,
                                     Precision precision) {
  std::vector<float> features;
  if (pixels) {
    if (!model.has_vision()) throw Error(model.dir() + ": this model has no vision tower; drop --image");
    features = model.encode_image(pixels, precision);
  }
  std::vector<float> embeds = model.merge_embeddings(ids, pixels ? &features : nullptr);
  const int64_t rows = int64_t(embeds.size()) / model.decoder().hidden();
  if (rows == 0) throw Error("empty prompt");
  check_context(model, rows);
  return embeds;
}

}  // namespace

Session::Session(const LlavaModel& model, int64_t capacity, ExecutionPlan plan, Precision precision)
    : model_(model), plan_(std::move(plan)), precision_(precision) {
  const TextConfig& t = model.config().text;
  cache_ = KvCache(t.num_layers, t.num_kv_heads, t.head_dim, capacity, plan_);
}

void Session::forward(const float* embeds, int64_t T, std::vector<float>& logits, bool all_rows) {
  const LlamaDecoder& d = model_.decoder();
  const int64_t H = d.hidden();
  std::vector<float> x(embeds, embeds + T * H);
  std::vector<int64_t> pos(static_cast<size_t>(T));
  std::iota(pos.begin(), pos.end(), cache_.length());
  d.run_layers(x.data(), T, 0, d.config().num_layers, pos.data(), cache_, plan_, precision_);
  cache_.set_length(cache_.length() + T);
  const int64_t first = all_rows ? 0 : T - 1, rows = T - first;
  std::vector<float> normed(size_t(rows * H));
  d.final_norm(normed.data(), x.data() + first * H, rows);
  logits.resize(size_t(rows * d.vocab()));
  d.lm_head(logits.data(), normed.data(), rows, precision_);
}

void Session::feed_token(int64_t id, std::vector<float>& logits) {
  std::vector<float> e(size_t(model_.decoder().hidden()));
  model_.decoder().embed(e.data(), &id, 1);
  forward(e.data(), 1, logits);
}

GenerateResult generate(const LlavaModel& model, const std::vector<int64_t>& ids, const float* pixels,
                        const GenerateOptions& opts, bool keep_step_logits) {
  using clock = std::chrono::steady_clock;
  const auto t0 = clock::now();
  GenerateResult r;
  const std::vector<float> embeds = prompt_embeddings(model, ids, pixels, opts.precision);
  if (pixels) r.vision_ms = ms_since(t0);  // merging text rows takes microseconds
  const int64_t H = model.decoder().hidden(), V = model.decoder().vocab();
  r.prompt_rows = int64_t(embeds.size()) / H;
  const int64_t ctx = model.config().text.max_position_embeddings;
  const int64_t max_new = std::min<int64_t>(opts.max_new_tokens, ctx - r.prompt_rows);

  Session s(model, r.prompt_rows + max_new, ExecutionPlan::full(model.config().text.num_layers), opts.precision);
  Sampler sampler(opts.sampling);
  std::vector<float> logits;
  const auto t1 = clock::now();
  s.forward(embeds.data(), r.prompt_rows, logits);
  r.prefill_ms = ms_since(t1);
  const auto t2 = clock::now();
  for (int64_t step = 0; step < max_new; ++step) {
    if (keep_step_logits) r.step_logits.push_back(logits);
    const int64_t next = sampler.sample(logits.data(), V);
    r.ids.push_back(next);
    if (opts.on_token) opts.on_token(next);
    if (next == model.config().text.eos_token_id && !opts.ignore_eos) {
      r.stopped_at_eos = true;
      break;
    }
    if (step + 1 < max_new) s.feed_token(next, logits);
  }
  r.decode_ms = ms_since(t2);
  r.total_ms = ms_since(t0);
  return r;
}

std::vector<float> all_logits(const LlavaModel& model, const std::vector<int64_t>& ids, const float* pixels,
                              Precision precision, int64_t* rows) {
  const std::vector<float> embeds = prompt_embeddings(model, ids, pixels, precision);
  const int64_t T = int64_t(embeds.size()) / model.decoder().hidden();
  Session s(model, T, ExecutionPlan::full(model.config().text.num_layers), precision);
  std::vector<float> logits;
  s.forward(embeds.data(), T, logits, /*all_rows=*/true);
  *rows = T;
  return logits;
}

}  // namespace adallava
