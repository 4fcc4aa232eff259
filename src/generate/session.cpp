#include "generate/session.h"

#include <chrono>
#include <numeric>
#include <optional>

#include "adaptive/budget.h"
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

// The decoder input of a request: image encoded (if any) and spliced into the prompt.
std::vector<float> prompt_embeddings(const LlavaModel& model, const std::vector<int64_t>& ids, const float* pixels,
                                     Precision precision) {
  std::vector<float> features;
  if (pixels) {
    if (!model.has_vision()) throw Error(model.dir() + ": this model has no vision tower, so it takes no image");
    features = model.encode_image(pixels, precision);
  }
  std::vector<float> embeds = model.merge_embeddings(ids, pixels ? &features : nullptr);
  const int64_t rows = int64_t(embeds.size()) / model.decoder().hidden();
  if (rows == 0) throw Error("empty prompt");
  check_context(model, decoder_rows(model, rows));
  return embeds;
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

}  // namespace

Session::Session(const LlavaModel& model, int64_t capacity, Precision precision)
    : model_(model), precision_(precision) {
  const TextConfig& t = model.config().text;
  plan_ = ExecutionPlan::full(t.num_layers, t.num_heads);
  // K/V are cached in the activations' precision: bf16 activations get a bf16 cache.
  cache_ = KvCache(t.num_layers, t.head_dim, capacity, precision == Precision::BF16 ? DType::BF16 : DType::F32);
}

void Session::run(float* x, int64_t T, int l0, int l1, std::vector<float>* layer_outputs) {
  const LlamaDecoder& d = model_.decoder();
  cache_.allocate(plan_, d.config().num_kv_heads, l0, l1);
  std::vector<int64_t> pos(static_cast<size_t>(T));
  std::iota(pos.begin(), pos.end(), cache_.length());
  d.run_layers(x, T, l0, l1, pos.data(), cache_, plan_, precision_, layer_outputs);
}

void Session::finish(const float* x, int64_t T, std::vector<float>& logits, bool all_rows) {
  const LlamaDecoder& d = model_.decoder();
  const int64_t H = d.hidden();
  cache_.set_length(cache_.length() + T);
  const int64_t first = all_rows ? 0 : T - 1, rows = T - first;
  std::vector<float> normed(size_t(rows * H));
  d.final_norm(normed.data(), x + first * H, rows);
  logits.resize(size_t(rows * d.vocab()));
  d.lm_head(logits.data(), normed.data(), rows, precision_);
}

PlanReport Session::prefill(const float* embeds, int64_t T, const PlanRequest& request, std::vector<float>& logits,
                            bool all_rows, std::vector<float>* layer_outputs) {
  const LlamaDecoder& d = model_.decoder();
  const TextConfig& t = d.config();
  const int64_t H = d.hidden();
  const int N = t.num_layers;
  const AdaLlavaParts* ada = model_.adaptive();
  PlanReport rep;
  rep.budget = request.budget;
  if (!ada) {
    check_plain_request(request);
    const std::optional<ExecutionPlan> named = named_plan(request.policy, t);
    plan_ = named ? *named : ExecutionPlan::full(N, t.num_heads);
    rep.source = named ? request.policy.name() : "full";
    std::vector<float> x(embeds, embeds + T * H);
    run(x.data(), T, 0, N, layer_outputs);
    finish(x.data(), T, logits, all_rows);
  } else {
    const AdaConfig& a = ada->config;
    rep.adaptive = true;
    rep.units = budget_units(request.budget, a);
    rep.source = request.policy.name();
    // The latency token of the budget is the last prompt row, at the next position.
    std::vector<float> x(size_t((T + 1) * H));
    std::copy(embeds, embeds + T * H, x.begin());
    std::copy(ada->encoder.token(rep.units), ada->encoder.token(rep.units) + H, x.begin() + T * H);
    ++T;
    const int P = a.num_prefix_layers;
    switch (request.policy.kind) {
      case PlanPolicy::Scheduler:
        plan_ = ExecutionPlan::full(N, t.num_heads);
        break;  // prefix part used first
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
    run(x.data(), T, 0, P, layer_outputs);
    if (request.policy.kind == PlanPolicy::Scheduler) {
      const auto t0 = std::chrono::steady_clock::now();
      const float* state = x.data() + (T - 1) * H;  // latency token before layer P, no norm
      rep.scheduler_input.assign(state, state + H);
      rep.scheduler_logits = ada->scheduler.logits(state);
      plan_ = plan_from_scheduler(rep.scheduler_logits, rep.units, a, N, t.num_heads);
      rep.scheduler_ms = ms_since(t0);
    }
    run(x.data(), T, P, N, layer_outputs);
    finish(x.data(), T, logits, all_rows);
  }
  rep.plan = plan_;
  rep.executed_fraction = d.executed_fraction(plan_);
  return rep;
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
  finish(x.data(), 1, logits, false);
}

GenerateResult generate(const LlavaModel& model, const std::vector<int64_t>& ids, const float* pixels,
                        const GenerateOptions& opts, bool keep_step_logits) {
  using clock = std::chrono::steady_clock;
  const auto t0 = clock::now();
  GenerateResult r;
  const std::vector<float> embeds = prompt_embeddings(model, ids, pixels, opts.precision);
  if (pixels) r.vision_ms = ms_since(t0);  // merging text rows takes microseconds
  const int64_t H = model.decoder().hidden(), V = model.decoder().vocab();
  const int64_t rows = int64_t(embeds.size()) / H;
  r.prompt_rows = decoder_rows(model, rows);
  const int64_t ctx = model.config().text.max_position_embeddings;
  const int64_t max_new = std::min<int64_t>(opts.max_new_tokens, ctx - r.prompt_rows);

  Session s(model, r.prompt_rows + max_new, opts.precision);
  Sampler sampler(opts.sampling);
  std::vector<float> logits;
  PlanRequest plan = opts.plan;
  if (opts.before_prefill) opts.before_prefill(plan);
  const auto t1 = clock::now();
  r.plan = s.prefill(embeds.data(), rows, plan, logits);
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
      s.feed_token(next, logits);
    }
  }
  r.decode_ms = ms_since(t2);
  r.total_ms = ms_since(t0);
  return r;
}

std::vector<float> all_logits(const LlavaModel& model, const std::vector<int64_t>& ids, const float* pixels,
                              Precision precision, const PlanRequest& request, int64_t* rows, PlanReport* report) {
  const std::vector<float> embeds = prompt_embeddings(model, ids, pixels, precision);
  const int64_t T = int64_t(embeds.size()) / model.decoder().hidden();
  *rows = decoder_rows(model, T);
  Session s(model, *rows, precision);
  std::vector<float> logits;
  PlanReport rep = s.prefill(embeds.data(), T, request, logits, /*all_rows=*/true);
  if (report) *report = std::move(rep);
  return logits;
}

}  // namespace adallava
