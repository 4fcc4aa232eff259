#include "generate/session.h"

#include <chrono>
#include <algorithm>
#include <cmath>
#include <numeric>
#include <optional>

#include "adaptive/budget.h"
#include "generate/step_batcher.h"
#include "tensor/error.h"

namespace adallava {

namespace {

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// Rows the decoder sees for a prompt of `rows` merged rows (+1 latency token for AdaLLaVA).
int64_t decoder_rows(const LlavaModel& model, int64_t rows) {
  return rows + (model.adaptive() ? 1 : 0);
}

void check_context(const LlavaModel& model, int64_t rows) {
  const int64_t ctx = model.config().text.max_position_embeddings;
  if (rows > ctx)
    throw Error("prompt of " + std::to_string(rows) + " tokens (image rows included) exceeds the model context of " +
                std::to_string(ctx) + " tokens (max_position_embeddings)");
}

Prompt prompt_embeddings(const LlavaModel& model, const std::vector<int64_t>& ids, const float* pixels,
                         Precision precision, const TokenSelection& selection) {
  std::vector<float> features;
  if (pixels) {
    if (!model.has_vision()) throw Error(model.dir() + ": this model has no vision tower, so it takes no image");
    features = model.encode_image(pixels, precision, &selection);
  }
  return build_prompt(model, ids, pixels ? &features : nullptr, selection);
}

// The plan a request names itself (a layer list or a whole plan), or null.
std::optional<ExecutionPlan> named_plan(const PlanPolicy& policy, const TextConfig& t) {
  if (policy.kind == PlanPolicy::Layers) return ExecutionPlan::layers(policy.layers, t.num_layers, t.num_heads);
  if (policy.kind != PlanPolicy::Fixed) return std::nullopt;
  if (policy.plan.n_layers() != t.num_layers || policy.plan.n_heads() != t.num_heads)
    throw Error("plan of " + std::to_string(policy.plan.n_layers()) + " layers x " +
                std::to_string(policy.plan.n_heads()) + " heads does not fit this model (" +
                std::to_string(t.num_layers) + " x " + std::to_string(t.num_heads) + ")");
  for (int l = 0; l < t.num_layers; ++l)
    for (const auto* set : {&policy.plan.layer(l).heads, &policy.plan.layer(l).mlp_groups})
      for (int h : *set)
        if (h < 0 || h >= t.num_heads)
          throw Error("plan layer " + std::to_string(l) + ": index " + std::to_string(h) + " is out of range");
  return policy.plan;
}

// A plain checkpoint has no budget: only the full plan or an explicit layer list.
void check_plain_request(const PlanRequest& r) {
  if (r.budget != 1.0)
    throw Error("budget " + std::to_string(r.budget) +
                " needs an AdaLLaVA checkpoint (model_type ada_llava_llama); this model always runs in full");
  if (r.policy.kind == PlanPolicy::EarlyExit || r.policy.kind == PlanPolicy::Random)
    throw Error("plan " + r.policy.name() + " needs an AdaLLaVA checkpoint (it keeps the budget's unit count)");
}

// FastV's layer: inside the decoder, and for AdaLLaVA inside the prefix the plan always runs.
void check_fastv(const FastVRequest& f, const LlavaModel& model) {
  const int N = model.config().text.num_layers;
  const std::string name = "fastv:" + std::to_string(f.k);
  if (f.k < 1 || f.k >= N)
    throw Error(name + ": K must be a layer between 1 and " + std::to_string(N - 1) + " (this decoder has " +
                std::to_string(N) + " layers)");
  const AdaLlavaParts* ada = model.adaptive();
  if (ada && f.k > ada->config.num_prefix_layers)
    throw Error(name + ": with AdaLLaVA, K must be at most the " + std::to_string(ada->config.num_prefix_layers) +
                " prefix layers (the scheduler decides which later layers run)");
}

}  // namespace

Prompt build_prompt(const LlavaModel& model, const std::vector<int64_t>& ids, const std::vector<float>* features,
                    const TokenSelection& selection) {
  Prompt p;
  std::vector<int64_t> merged;
  p.embeds = model.merge_embeddings(ids, features, &merged);
  p.rows = int64_t(p.embeds.size()) / model.decoder().hidden();
  if (p.rows == 0) throw Error("empty prompt");
  check_context(model, decoder_rows(model, p.rows));
  const int64_t image_first = std::find(merged.begin(), merged.end(), model.config().image_token_id) - merged.begin();
  p.image_rows = std::count(merged.begin(), merged.end(), model.config().image_token_id);
  if (selection.kind == TokenSelection::FastV && p.image_rows > 0)
    p.fastv = FastVRequest{selection.fastv_k, selection.fastv_r, image_first, p.image_rows};
  return p;
}

Session::Session(const LlavaModel& model, int64_t capacity, Precision precision)
    : model_(model), precision_(precision) {
  const TextConfig& t = model.config().text;
  plan_ = ExecutionPlan::full(t.num_layers, t.num_heads);
  // K/V are cached in the activations' precision: bf16 activations get a bf16 cache, and so do
  // llama.cpp-style 8-bit products (its cache is 16-bit too): half the bytes to keep and read.
  const bool half = precision == Precision::BF16 || precision == Precision::Q8;
  cache_ = KvCache(t.num_layers, t.head_dim, capacity, half ? DType::BF16 : DType::F32);
}

void Session::run(float* x, int64_t T, int l0, int l1, std::vector<float>* layer_outputs,
                  const int64_t* positions) {
  const LlamaDecoder& d = model_.decoder();
  cache_.allocate(plan_, d.config().num_kv_heads, l0, l1);
  std::vector<int64_t> pos;
  if (!positions) {
    pos.resize(size_t(T));
    std::iota(pos.begin(), pos.end(), cache_.length());
    positions = pos.data();
  }
  d.run_layers(x, T, l0, l1, positions, cache_, plan_, precision_, layer_outputs);
}

void Session::run_prompt(std::vector<float>& x, int64_t& T, int l0, int l1, std::vector<float>* layer_outputs,
                         const FastVRequest* fastv) {
  if (!fastv || fastv->k <= l0 || fastv->k > l1) {
    run(x.data(), T, l0, l1, layer_outputs, kept_.data());
    return;
  }
  const LlamaDecoder& d = model_.decoder();
  const int64_t H = d.hidden(), K = fastv->k;
  if (layer_outputs) throw Error("internal: layer outputs are not kept with fastv");
  if (!plan_.runs(int(K) - 1) || int(plan_.layer(int(K) - 1).heads.size()) != d.config().num_heads)
    throw Error("fastv:" + std::to_string(K) + " needs layer " + std::to_string(K - 1) +
                " to run with all its heads (it ranks the image rows); this request's plan does not run it in full");
  // The ranking row: the last text row, before AdaLLaVA's latency token (see docs/token-selection.md).
  const int64_t rank_row = model_.adaptive() ? T - 2 : T - 1;
  run(x.data(), T, l0, int(K) - 1, nullptr, kept_.data());
  const std::vector<float> row(x.begin() + rank_row * H, x.begin() + (rank_row + 1) * H);
  run(x.data(), T, int(K) - 1, int(K), nullptr, kept_.data());
  const std::vector<float> probs =
      d.attention_probs(int(K) - 1, row.data(), kept_[size_t(rank_row)], cache_, rank_row + 1, precision_);
  // Keep the image rows with the most attention (lower row first among equals), in row order.
  std::vector<int64_t> image(size_t(fastv->count));
  std::iota(image.begin(), image.end(), fastv->first);
  const int64_t keep = fastv->count - int64_t(std::floor(fastv->r * double(fastv->count)));
  std::stable_sort(image.begin(), image.end(), [&](int64_t a, int64_t b) {
    return (a <= rank_row ? probs[size_t(a)] : 0.f) > (b <= rank_row ? probs[size_t(b)] : 0.f);
  });
  std::vector<bool> drop(size_t(T), false);
  for (size_t i = size_t(keep); i < image.size(); ++i) drop[size_t(image[i])] = true;
  int64_t n = 0;
  for (int64_t t = 0; t < T; ++t)
    if (!drop[size_t(t)]) {
      std::copy(x.begin() + t * H, x.begin() + (t + 1) * H, x.begin() + n * H);
      kept_[size_t(n++)] = kept_[size_t(t)];
    }
  T = n;
  kept_.resize(size_t(T));
  x.resize(size_t(T * H));
  run(x.data(), T, int(K), l1, nullptr, kept_.data());
}

void Session::finish(const float* x, int64_t T, std::vector<float>& logits, bool all_rows, int64_t advance) {
  const LlamaDecoder& d = model_.decoder();
  const int64_t H = d.hidden();
  cache_.set_length(cache_.length() + advance);
  const int64_t first = all_rows ? 0 : T - 1, rows = T - first;
  std::vector<float> normed(size_t(rows * H));
  d.final_norm(normed.data(), x + first * H, rows);
  logits.resize(size_t(rows * d.vocab()));
  d.lm_head(logits.data(), normed.data(), rows, precision_);
}

std::vector<float> Session::begin_prefill(const float* embeds, int64_t T, const PlanRequest& request,
                                          PlanReport& rep, const FastVRequest* fastv) {
  const LlamaDecoder& d = model_.decoder();
  const TextConfig& t = d.config();
  const int64_t H = d.hidden();
  const int N = t.num_layers;
  const AdaLlavaParts* ada = model_.adaptive();
  if (fastv) check_fastv(*fastv, model_);
  const int64_t rows = T + (ada ? 1 : 0);  // positions the prompt covers
  kept_.resize(size_t(rows));
  std::iota(kept_.begin(), kept_.end(), cache_.length());
  cut_ = fastv ? fastv->k : N;
  rep.budget = request.budget;
  std::vector<float> x(embeds, embeds + T * H);
  if (!ada) {
    check_plain_request(request);
    const std::optional<ExecutionPlan> named = named_plan(request.policy, t);
    plan_ = named ? *named : ExecutionPlan::full(N, t.num_heads);
    rep.source = named ? request.policy.name() : "full";
    return x;
  }
  const AdaConfig& a = ada->config;
  rep.adaptive = true;
  rep.units = budget_units(request.budget, a);
  rep.source = request.policy.name();
  // The latency token of the budget is the last prompt row, at the next position.
  x.insert(x.end(), ada->encoder.token(rep.units), ada->encoder.token(rep.units) + H);
  switch (request.policy.kind) {
    case PlanPolicy::Scheduler:
      plan_ = ExecutionPlan::full(N, t.num_heads);  // its prefix part runs first
      break;
    case PlanPolicy::EarlyExit:
      plan_ = early_exit_plan(rep.units, a, N, t.num_heads);
      break;
    case PlanPolicy::Random:
      plan_ = random_plan(rep.units, request.policy.seed, a, N, t.num_heads);
      break;
    case PlanPolicy::Layers:
    case PlanPolicy::Fixed:
      plan_ = *named_plan(request.policy, t);
      break;
  }
  return x;
}

int Session::plan_layer() const {
  const AdaLlavaParts* ada = model_.adaptive();
  return ada ? ada->config.num_prefix_layers : model_.config().text.num_layers;
}

void Session::choose_plan(const float* x, int64_t T, const PlanRequest& request, PlanReport& rep) {
  const AdaLlavaParts* ada = model_.adaptive();
  if (!ada || request.policy.kind != PlanPolicy::Scheduler) return;
  const TextConfig& t = model_.config().text;
  const auto t0 = std::chrono::steady_clock::now();
  const float* state = x + (T - 1) * t.hidden_size;  // latency token before the first gated layer, no norm
  rep.scheduler_input.assign(state, state + t.hidden_size);
  rep.scheduler_logits = ada->scheduler.logits(state);
  plan_ = plan_from_scheduler(rep.scheduler_logits, rep.units, ada->config, t.num_layers, t.num_heads);
  rep.scheduler_ms = ms_since(t0);
}

void Session::end_prefill(int64_t rows, int64_t T, PlanReport& rep) {
  dropped_ = rows - T;
  if (dropped_ > 0) cache_.drop_rows(cut_, dropped_);
  rep.plan = plan_;
  rep.executed_fraction = model_.decoder().executed_fraction(plan_);
}

PlanReport Session::prefill(const float* embeds, int64_t T, const PlanRequest& request, std::vector<float>& logits,
                            bool all_rows, std::vector<float>* layer_outputs, const FastVRequest* fastv) {
  PlanReport rep;
  std::vector<float> x = begin_prefill(embeds, T, request, rep, fastv);
  const int64_t rows = int64_t(kept_.size());
  T = rows;
  const int P = plan_layer();
  run_prompt(x, T, 0, P, layer_outputs, fastv);
  choose_plan(x.data(), T, request, rep);
  run_prompt(x, T, P, model_.config().text.num_layers, layer_outputs, fastv);
  finish(x.data(), T, logits, all_rows, rows);
  end_prefill(rows, T, rep);
  return rep;
}

PlanReport Session::choose_only(const float* embeds, int64_t T, const PlanRequest& request,
                                const FastVRequest* fastv) {
  PlanReport rep;
  std::vector<float> x = begin_prefill(embeds, T, request, rep, fastv);
  T = int64_t(kept_.size());
  const bool scheduler = model_.adaptive() && request.policy.kind == PlanPolicy::Scheduler;
  if (scheduler) {
    run_prompt(x, T, 0, plan_layer(), nullptr, fastv);
    choose_plan(x.data(), T, request, rep);
  }
  rep.plan = plan_;
  rep.executed_fraction = model_.decoder().executed_fraction(plan_);
  return rep;
}

double Session::prefill_flops(const ExecutionPlan& plan) const {
  const int64_t kept = int64_t(kept_.size());
  return model_.decoder().prefill_flops(plan, kept + dropped_, kept, cut_);
}

void Session::drop_layers(const std::vector<int>& layers) {
  for (int l : layers) {
    if (l < 0 || l >= plan_.n_layers() || !plan_.runs(l))
      throw Error("layer " + std::to_string(l) + " does not run in this request's plan, so it cannot be dropped");
    plan_.layer(l) = LayerPlan{};
  }
}

void Session::feed_token(int64_t id, std::vector<float>& logits) {
  const LlamaDecoder& d = model_.decoder();
  std::vector<float> x(size_t(d.hidden()));
  d.embed(x.data(), &id, 1);
  run(x.data(), 1, 0, d.config().num_layers, nullptr);
  finish(x.data(), 1, logits, false, 1);
}

GenerateResult generate(const LlavaModel& model, const std::vector<int64_t>& ids, const float* pixels,
                        const GenerateOptions& opts, bool keep_step_logits) {
  using clock = std::chrono::steady_clock;
  const auto t0 = clock::now();
  GenerateResult r;
  const Prompt prompt = prompt_embeddings(model, ids, pixels, opts.precision,
                                          opts.token_selection ? *opts.token_selection : model.token_selection());
  if (pixels) r.vision_ms = ms_since(t0);  // merging text rows takes microseconds
  const int64_t V = model.decoder().vocab();
  const int64_t rows = prompt.rows;
  r.image_rows = prompt.image_rows;
  r.prompt_rows = decoder_rows(model, rows);
  const int64_t ctx = model.config().text.max_position_embeddings;
  const int64_t max_new = std::min<int64_t>(opts.max_new_tokens, ctx - r.prompt_rows);

  Session s(model, r.prompt_rows + max_new, opts.precision);
  Sampler sampler(opts.sampling);
  std::vector<float> logits;
  PlanRequest plan = opts.plan;
  if (opts.before_prefill) opts.before_prefill(plan, r.prompt_rows);
  const auto t1 = clock::now();
  std::optional<StepBatcher::Member> member;
  if (opts.batcher) {
    member.emplace(*opts.batcher);
    BatchEntry e{&s};
    e.prompt = &prompt;
    e.request = plan;
    e.logits = &logits;
    e.report = &r.plan;
    e.chunk_rows = opts.prefill_chunk;
    do {  // a chunked prompt: one step per chunk, through the prefix layers and then the rest
      if (opts.step_timing) e.timing = opts.step_timing(s, 0);
      if (e.chunk_rows > 0 && e.chunk_rows < r.prompt_rows)
        e.timing.cost_ms *= double(e.chunk_rows) / double(r.prompt_rows);
      e.timing.prefill = true;
      opts.batcher->run(e);
    } while (s.prefilling());
  } else {
    r.plan = s.prefill(prompt.embeds.data(), rows, plan, logits, false, nullptr, prompt.fastv_request());
  }
  r.image_rows_kept = r.image_rows - s.dropped_rows();
  r.prefill_ms = ms_since(t1);
  const auto t2 = clock::now();
  for (int64_t step = 0; step < max_new; ++step) {
    if (keep_step_logits) r.step_logits.push_back(logits);
    const int64_t next = sampler.sample(logits.data(), V);
    r.ids.push_back(next);
    if (opts.on_token && !opts.on_token(next)) {
      r.cancelled = true;
      break;
    }
    if (next == model.config().text.eos_token_id && !opts.ignore_eos) {
      r.stopped_at_eos = true;
      break;
    }
    if (step + 1 < max_new) {
      if (opts.before_step) opts.before_step(s, r.plan, int64_t(r.ids.size()));
      if (opts.batcher) {
        BatchEntry e{&s, next};
        e.logits = &logits;
        if (opts.step_timing) e.timing = opts.step_timing(s, int64_t(r.ids.size()));
        opts.batcher->run(e);
      } else {
        s.feed_token(next, logits);
      }
    }
  }
  r.decode_ms = ms_since(t2);
  r.total_ms = ms_since(t0);
  return r;
}

std::vector<float> all_logits(const LlavaModel& model, const std::vector<int64_t>& ids, const float* pixels,
                              Precision precision, const PlanRequest& request, int64_t* rows, PlanReport* report,
                              const TokenSelection* selection) {
  const Prompt prompt = prompt_embeddings(model, ids, pixels, precision, selection ? *selection : model.token_selection());
  Session s(model, decoder_rows(model, prompt.rows), precision);
  std::vector<float> logits;
  PlanReport rep = s.prefill(prompt.embeds.data(), prompt.rows, request, logits, /*all_rows=*/true, nullptr,
                             prompt.fastv_request());
  *rows = int64_t(s.kept_rows().size());
  if (report) *report = std::move(rep);
  return logits;
}

PlanReport prompt_plan(const LlavaModel& model, const std::vector<int64_t>& ids, const float* pixels,
                       Precision precision, const PlanRequest& request, const TokenSelection* selection) {
  const Prompt prompt = prompt_embeddings(model, ids, pixels, precision, selection ? *selection : model.token_selection());
  Session s(model, decoder_rows(model, prompt.rows), precision);
  return s.choose_only(prompt.embeds.data(), prompt.rows, request, prompt.fastv_request());
}

}  // namespace adallava
