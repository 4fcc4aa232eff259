#include "train/ada_step.h"

#include <algorithm>
#include <chrono>
#include <numeric>

#include "adaptive/latency_encoder.h"
#include "model/tensor_names.h"
#include "tensor/error.h"
#include "train/decoder_layer.h"
#include "train/grad_ops.h"
#include "train/vision_tower.h"

namespace adallava::train {

namespace {

// Every plan of `units` gated layers out of n, as bit masks (ascending), at most `limit`.
std::vector<uint32_t> layer_subsets(int n, int units, size_t limit) {
  std::vector<uint32_t> out;
  if (n > 24) throw OptionError("train", "scheduler-exact: " + std::to_string(n) + " gated layers are too many to enumerate");
  for (uint32_t m = 0; m < (1u << n); ++m)
    if (__builtin_popcount(m) == units) {
      out.push_back(m);
      if (out.size() > limit)
        throw OptionError("train", "scheduler-exact: more than " + std::to_string(limit) + " plans of " +
                    std::to_string(units) + " layers out of " + std::to_string(n) + " to enumerate");
    }
  return out;
}

// The vision tower's gradient buffers (null where frozen), by checkpoint name.
template <class GradPtr>
VisionGrads vision_grads(const GradPtr& gp, int layers) {
  const std::string v = kEmbeddedVisionPrefix, pre = v + names::kPreNorm;
  VisionGrads o{gp(v + names::kPatch), gp(v + names::kClass), gp(v + names::kPositions), gp(pre + ".weight"),
                gp(pre + ".bias"), {}};
  for (int l = 0; l < layers; ++l) {
    const std::string p = names::vision_layer(v, l);
    auto w = [&](const char* n) { return gp(p + n + ".weight"); };
    auto b = [&](const char* n) { return gp(p + n + ".bias"); };
    using namespace names;
    o.layers.push_back({w(kNorm1), b(kNorm1), w(kVisionQ), b(kVisionQ), w(kVisionK), b(kVisionK), w(kVisionV),
                        b(kVisionV), w(kVisionOut), b(kVisionOut), w(kNorm2), b(kNorm2), w(kFc1), b(kFc1), w(kFc2),
                        b(kFc2)});
  }
  return o;
}

template <class GradPtr>
LayerGrads layer_grads(const GradPtr& gp, int l) {
  const std::string p = names::decoder_layer(train_names().decoder, l);
  using namespace names;
  return {gp(p + kAttnNorm), gp(p + kMlpNorm), gp(p + kQ), gp(p + kK), gp(p + kV),
          gp(p + kO),        gp(p + kGate),    gp(p + kUp), gp(p + kDown)};
}

}  // namespace

namespace {


// The gradient buffer of a parameter; null when it is frozen.
float* grad_of(Grads& G, const std::string& name) {
  auto it = G.find(name);
  return it == G.end() ? nullptr : it->second.data();
}

// Next-token targets: row t predicts labels[t + 1].
std::vector<int64_t> next_token_targets(const std::vector<int64_t>& labels) {
  std::vector<int64_t> targets(labels.size(), kIgnoreIndex);
  for (size_t t = 0; t + 1 < labels.size(); ++t) targets[t] = labels[t + 1];
  return targets;
}

// The model the step runs: the inference modules bound to the params' current values (f32
// views; matrices are not copied), so training runs the inference forward.
std::unique_ptr<LlavaModel> bind_params(const LlavaModel& m, const Params& p) {
  auto store = std::make_unique<TensorStore>();
  store->set_origin(m.dir() + " (training params)");
  for (const auto& [name, t] : p.values) store->add_view(name, DType::F32, p.shapes.at(name), t.data());
  ModelConfig c = m.config();
  c.layout = Layout::OriginalLlava;
  c.has_vision = p.has_vision();
  return LlavaModel::from_store(c, std::move(store), m.preprocess_config());
}

// What the forward keeps for the backward.
struct Forward {
  std::unique_ptr<LlavaModel> model;  // bound to the params
  // Image: the tower's output (tokens, C), its trace when it trains, the projector's
  // pre-activation and the image rows (n_img, H).
  std::vector<float> hidden, projector_pre_act, image_rows;
  ClipTrace tower;
  int64_t n_img = 0, skip = 0;
  // The merged sequence: ids −1 at image rows and the latency row.
  std::vector<float> x;
  std::vector<int64_t> labels, ids, positions;
  int64_t latency_position = -1;
  std::vector<float> encoding;
  LatencyTrace latency;
  // Decoder: each layer's gated plan and trace (traced from the lowest layer that trains).
  std::vector<LayerPlan> plans;
  std::vector<LlamaLayerTrace> layers;
  std::vector<float> normed;  // the final norm of x, the lm_head's input
  int64_t T() const { return int64_t(labels.size()); }
};

// The tower (the bound one when it trains, the model's frozen one otherwise) and the projector.
void image_forward(Forward& f, const LlavaModel& m, const Params& p, const float* pixels) {
  if (!pixels) return;
  const int64_t C = m.config().vision.hidden_size;
  f.skip = m.config().keep_cls ? 0 : 1;
  f.hidden = p.train_vision ? f.model->vision().encode(pixels, Precision::F32, nullptr, &f.tower)
                            : m.vision().encode(pixels, Precision::F32);
  f.n_img = m.vision().tokens() - f.skip;
  f.image_rows =
      f.model->projector().forward(f.hidden.data() + f.skip * C, f.n_img, Precision::F32, &f.projector_pre_act);
}

// Image rows in place of the image token (their labels ignored), then the latency token of
// `units` right after the last ignored label (before the final answer) on an AdaLLaVA.
void merge_sequence(Forward& f, const LlavaModel& m, const Sample& s, int units) {
  const LlavaModel& b = *f.model;
  const int64_t H = m.config().text.hidden_size;
  for (size_t i = 0; i < s.ids.size(); ++i) {
    if (s.ids[i] == m.config().image_token_id) {
      f.x.insert(f.x.end(), f.image_rows.begin(), f.image_rows.end());
      f.labels.insert(f.labels.end(), size_t(f.n_img), kIgnoreIndex);
      f.ids.insert(f.ids.end(), size_t(f.n_img), -1);
    } else {
      f.x.resize(f.x.size() + size_t(H));
      b.decoder().embed(f.x.data() + f.x.size() - size_t(H), &s.ids[i], 1);
      f.labels.push_back(s.labels[i]);
      f.ids.push_back(s.ids[i]);
    }
  }
  if (const AdaLlavaParts* ada = b.adaptive()) {
    int64_t last_ignored = -1;
    for (size_t i = 0; i < f.labels.size(); ++i)
      if (f.labels[i] == kIgnoreIndex) last_ignored = int64_t(i);
    const int64_t lp = f.latency_position = last_ignored + 1;
    f.encoding = latency_encoding(units, ada->config);
    const std::vector<float> token = ada->encoder.forward(f.encoding.data(), 1, &f.latency);
    f.x.insert(f.x.begin() + lp * H, token.begin(), token.end());
    f.labels.insert(f.labels.begin() + lp, kIgnoreIndex);
    f.ids.insert(f.ids.begin() + lp, -1);
  }
  f.positions.resize(f.labels.size());
  std::iota(f.positions.begin(), f.positions.end(), 0);
}

// The lowest decoder layer whose backward is needed: 0 when anything under the layers trains
// (embeddings, projector, tower, latency encoder), else the lowest layer with trained weights
// (--train gated on a plain LLaVA), N when none.
int lowest_trained_layer(const Params& p, Grads& G, bool ada, int N) {
  auto gp = [&G](const std::string& name) { return grad_of(G, name); };
  const names::LayoutNames& n = train_names();
  if (p.train_vision || gp(n.decoder + names::kEmbed) || gp(n.projector1 + ".weight") ||
      (ada && gp(names::kLatencyEncoder + std::string("1.weight"))))
    return 0;
  for (int l = 0; l < N; ++l) {
    const std::string layer = names::decoder_layer(n.decoder, l);
    if (gp(layer + names::kQ) || gp(layer + names::kDown)) return l;
  }
  return N;
}

// Layers [l0, l1) in the masked form of their plans, traced from `traced` up.
void run_layers(Forward& f, int l0, int l1, int traced) {
  const LlamaDecoder& d = f.model->decoder();
  for (int l = l0; l < l1; ++l)
    d.forward_layer(l, f.plans[size_t(l)], f.x.data(), f.T(), f.positions.data(), Precision::F32,
                    l >= traced ? &f.layers[size_t(l)] : nullptr);
}

// The scheduler reads the latency row of x, the state entering the first gated layer.
void scheduler_forward(StepResult& r, const Forward& f) {
  const int64_t H = f.model->config().text.hidden_size;
  const float* row = f.x.data() + f.latency_position * H;
  r.scheduler_input.assign(row, row + H);
  r.scheduler_logits = f.model->adaptive()->scheduler.logits(row);
}

// Samples the plan from the scheduler's logits and sets the gated layers' gates from it.
void schedule(Forward& f, StepResult& r, int units, float tau, const GumbelSource& noise) {
  const AdaConfig& a = f.model->adaptive()->config;
  const int nh = f.model->config().text.num_heads, P = a.num_prefix_layers;
  scheduler_forward(r, f);
  r.plan = a.type == SchedulerType::L
               ? sample_plan_L(r.scheduler_logits, units, tau, noise)
               : sample_plan_H(r.scheduler_logits, units, a.num_gated_layers, nh, a.scheduler_rank, tau, noise);
  std::vector<float> gates(2 * size_t(nh));
  for (int g = 0; g < a.num_gated_layers; ++g) {
    for (int j = 0; j < 2 * nh; ++j)
      gates[size_t(j)] =
          a.type == SchedulerType::L ? r.plan.plan[size_t(g)] : r.plan.plan[size_t(g) * 2 * size_t(nh) + size_t(j)];
    f.plans[size_t(P + g)] = gated_plan(nh, gates.data(), gates.data() + nh);
  }
}

// logits (T, V) of the final residual stream; returns d loss / d logits (× loss_scale).
std::vector<float> loss_forward(Forward& f, StepResult& r, float loss_scale) {
  const LlamaDecoder& d = f.model->decoder();
  const int64_t T = f.T(), V = d.vocab();
  f.normed.resize(f.x.size());
  d.final_norm(f.normed.data(), f.x.data(), T);
  r.logits.assign(size_t(T * V), 0.f);
  d.lm_head(r.logits.data(), f.normed.data(), T, Precision::F32);
  const std::vector<int64_t> targets = next_token_targets(f.labels);
  std::vector<float> dlogits(r.logits.size(), 0.f);
  r.loss = cross_entropy(dlogits.data(), r.logits.data(), targets.data(), T, V, kIgnoreIndex, loss_scale);
  return dlogits;
}

// --train scheduler-exact (AdaLLaVA-L): f.x is the decoder state entering the first gated layer.
// Every plan S of `units` gated layers runs forward to its loss L_S (its answer error with
// PlanScore::AnswerError); the scheduler's plan distribution is p(S) ∝ exp(Σ_{j∈S} logit_j),
// whose most likely plan is the top-k plan that inference runs, and the loss is the expectation
// E = Σ_S p(S)·L_S, with the exact gradient dE/dlogit_j = Σ_{S∋j} p(S)·(L_S − E). Only the
// scheduler's head gets a gradient (the latency encoder reaches the loss through every row's
// attention as well, which this does not follow).
void exact_plan_gradient(StepResult& r, Forward& f, int units, Grads& G, float loss_scale,
                         Sample::PlanScore score_by) {
  const LlamaDecoder& d = f.model->decoder();
  const AdaConfig& a = f.model->adaptive()->config;
  if (a.type != SchedulerType::L) throw OptionError("train", "scheduler-exact needs an AdaLLaVA-L checkpoint");
  const int64_t H = d.hidden(), V = d.vocab(), T = f.T();
  const int P = a.num_prefix_layers, n = a.num_gated_layers, nh = d.config().num_heads;
  scheduler_forward(r, f);
  const std::vector<int64_t> targets = next_token_targets(f.labels);
  const std::vector<uint32_t> plans = layer_subsets(n, units, 256);
  const LayerPlan full = ExecutionPlan::full(1, nh).layer(0);
  std::vector<double> loss(plans.size()), score(plans.size());
  std::vector<float> h, xn(f.x.size()), logits(size_t(T * V));
  std::vector<float> dlogits(score_by == Sample::PlanScore::Loss ? logits.size() : 0);  // cross_entropy's, unused
  size_t best = 0;
  for (size_t i = 0; i < plans.size(); ++i) {
    h = f.x;
    score[i] = 0;
    for (int g = 0; g < n; ++g) {
      if (!(plans[i] >> g & 1u)) continue;  // a gated-off layer adds nothing to the residual stream
      score[i] += r.scheduler_logits[size_t(g)];
      d.forward_layer(P + g, full, h.data(), T, f.positions.data(), Precision::F32);
    }
    d.final_norm(xn.data(), h.data(), T);
    d.lm_head(logits.data(), xn.data(), T, Precision::F32);
    loss[i] = score_by == Sample::PlanScore::Loss
                  ? cross_entropy(dlogits.data(), logits.data(), targets.data(), T, V, kIgnoreIndex, 1.f)
                  : answer_error(logits.data(), targets, V);
    if (score[i] > score[best]) best = i;
    if (i == best) r.logits = logits;
  }
  const double top = *std::max_element(score.begin(), score.end());
  double z = 0, expected = 0;
  for (double& sc : score) z += (sc = std::exp(sc - top));
  for (size_t i = 0; i < plans.size(); ++i) expected += score[i] / z * loss[i];
  std::vector<float> dlogit(size_t(n), 0.f);
  for (size_t i = 0; i < plans.size(); ++i)
    for (int g = 0; g < n; ++g)
      if (plans[i] >> g & 1u) dlogit[size_t(g)] += float(score[i] / z * (loss[i] - expected)) * loss_scale;
  r.loss = expected;
  r.plan.hard.assign(size_t(n), 0.f);
  for (int g = 0; g < n; ++g) r.plan.hard[size_t(g)] = float(plans[best] >> g & 1u);
  r.plan.plan = r.plan.hard;
  const std::string head = names::kSchedulerHead;
  std::vector<float> dinput(size_t(H), 0.f);
  linear_backward(dinput.data(), grad_of(G, head + ".weight"), grad_of(G, head + ".bias"), dlogit.data(),
                  r.scheduler_input.data(), f32_data(f.model->adaptive()->scheduler.head().w), 1, H, n);
}

// The gradient of the loss in the final residual stream, through lm_head and the final norm.
std::vector<float> head_backward(const Forward& f, const std::vector<float>& dlogits, Grads& G) {
  const LlamaDecoder& d = f.model->decoder();
  const int64_t T = f.T(), H = d.hidden();
  std::vector<float> dnormed(f.x.size(), 0.f), dx(f.x.size(), 0.f), r(static_cast<size_t>(T));
  linear_backward(dnormed.data(), grad_of(G, train_names().lm_head), (float*)nullptr, dlogits.data(), f.normed.data(),
                  f32_data(d.lm_head_weight()), T, H, d.vocab());
  rms_norm_stats(r.data(), f.x.data(), T, H, float(d.config().rms_norm_eps));
  rms_norm_backward(dx.data(), grad_of(G, train_names().decoder + names::kFinalNorm), dnormed.data(), f.x.data(),
                    d.final_norm_weight().data(), r.data(), T, H);
  return dx;
}

// Layers N − 1 down to `lowest`: dx holds d loss / d (layer output) on entry, d loss / d (input
// of `lowest`) on return. The gated layers' gate gradients flow into the plan and, where the
// scheduler read the latency row, through the sampling into its head and that row.
void decoder_backward(std::vector<float>& dx, const Forward& f, const StepResult& r, int lowest, float tau,
                      Grads& G) {
  const LlamaDecoder& d = f.model->decoder();
  const AdaLlavaParts* ada = f.model->adaptive();
  const int N = d.config().num_layers, nh = d.config().num_heads, P = ada ? ada->config.num_prefix_layers : N;
  const int64_t H = d.hidden();
  auto gp = [&G](const std::string& name) { return grad_of(G, name); };
  std::vector<float> dplan(r.plan.plan.size(), 0.f);
  for (int l = N - 1; l >= lowest; --l) {
    std::vector<float> dprev(dx.size(), 0.f), dgate(2 * size_t(nh), 0.f);
    layer_backward(dprev.data(), dgate.data(), dgate.data() + nh, dx.data(), d, l, f.plans[size_t(l)],
                   layer_grads(gp, l), f.layers[size_t(l)], f.positions.data());
    dx.swap(dprev);
    if (!ada || l < P) continue;
    const AdaConfig& a = ada->config;
    for (int j = 0; j < 2 * nh; ++j)
      dplan[a.type == SchedulerType::L ? size_t(l - P) : size_t(l - P) * 2 * size_t(nh) + size_t(j)] +=
          dgate[size_t(j)];
    if (l != P) continue;
    const std::vector<float> dlogits =
        a.type == SchedulerType::L
            ? sample_plan_backward_L(r.plan, dplan, tau)
            : sample_plan_backward_H(r.plan, r.scheduler_logits, dplan, a.num_gated_layers, nh, tau);
    const std::string head = names::kSchedulerHead;
    linear_backward(dx.data() + f.latency_position * H, gp(head + ".weight"), gp(head + ".bias"), dlogits.data(),
                    r.scheduler_input.data(), f32_data(ada->scheduler.head().w), 1, H, int64_t(dlogits.size()));
  }
}

// The latency row's gradient dz (hidden) into the encoder: LayerNorm → Linear → GELU → Linear.
void latency_backward(const Forward& f, const float* dz, Grads& G) {
  const LatencyEncoder& e = f.model->adaptive()->encoder;
  const int64_t H = f.model->decoder().hidden(), E = kLatencyEncodingDim;
  const std::string n = names::kLatencyEncoder;
  auto gp = [&G](const std::string& name) { return grad_of(G, name); };
  std::vector<float> mid(f.latency.pre_act), dmid(size_t(H), 0.f), dpre(size_t(H), 0.f), dnormed(size_t(E), 0.f);
  act_forward(Act::GeluErf, mid.data(), f.latency.pre_act.data(), H);
  linear_backward(dmid.data(), gp(n + "3.weight"), gp(n + "3.bias"), dz, mid.data(), f32_data(e.second().w), 1, H, H);
  act_backward(Act::GeluErf, dpre.data(), dmid.data(), f.latency.pre_act.data(), H);
  linear_backward(dnormed.data(), gp(n + "1.weight"), gp(n + "1.bias"), dpre.data(), f.latency.normed.data(),
                  f32_data(e.first().w), 1, E, H);
  float mean = 0, r = 0;
  layer_norm_stats(&mean, &r, f.encoding.data(), 1, E, kLatencyNormEps);
  layer_norm_backward((float*)nullptr, gp(n + "0.weight"), gp(n + "0.bias"), dnormed.data(), f.encoding.data(),
                      e.norm_weight().data(), &mean, &r, 1, E);
}

// The input rows' gradient dx (T, H): the latency row into its encoder, text rows into the
// embeddings; returns the image rows' gradient (n_img, H).
std::vector<float> inputs_backward(const Forward& f, const std::vector<float>& dx, Grads& G) {
  const int64_t H = f.model->decoder().hidden();
  if (f.latency_position >= 0) latency_backward(f, dx.data() + f.latency_position * H, G);
  std::vector<float> dimg(f.image_rows.size(), 0.f);
  float* dtable = grad_of(G, train_names().decoder + names::kEmbed);
  int64_t img_row = 0;
  for (int64_t t = 0; t < f.T(); ++t) {
    if (t == f.latency_position) continue;
    const float* g = dx.data() + t * H;
    if (f.ids[size_t(t)] < 0)
      std::copy(g, g + H, dimg.begin() + (img_row++) * H);
    else if (dtable)
      for (int64_t i = 0; i < H; ++i) dtable[f.ids[size_t(t)] * H + i] += g[i];
  }
  return dimg;
}

// The image rows' gradient into the projector and, when it trains, the tower.
void image_backward(const Forward& f, const Params& p, const std::vector<float>& dimg, Grads& G) {
  const Projector& pr = f.model->projector();
  const int64_t n = f.n_img, H = pr.l2.out_features(), C = pr.l1.in_features();
  const Act act = act_named(pr.act);
  auto gp = [&G](const std::string& name) { return grad_of(G, name); };
  const std::string l1 = train_names().projector1, l2 = train_names().projector2;
  std::vector<float> mid(f.projector_pre_act), dmid(mid.size(), 0.f), dpre(mid.size(), 0.f);
  act_forward(act, mid.data(), f.projector_pre_act.data(), n * H);
  linear_backward(dmid.data(), gp(l2 + ".weight"), gp(l2 + ".bias"), dimg.data(), mid.data(), f32_data(pr.l2.w), n, H,
                  H);
  act_backward(act, dpre.data(), dmid.data(), f.projector_pre_act.data(), n * H);
  std::vector<float> dhidden(p.train_vision ? f.hidden.size() : 0, 0.f);
  linear_backward(p.train_vision ? dhidden.data() + f.skip * C : nullptr, gp(l1 + ".weight"), gp(l1 + ".bias"),
                  dpre.data(), f.hidden.data() + f.skip * C, f32_data(pr.l1.w), n,
                  C, H);
  if (p.train_vision) {
    const ClipVisionTower& tower = f.model->vision();
    vision_backward(dhidden.data(), tower, vision_grads(gp, tower.feature_index()), f.tower);
  }
}

// Wall time between laps, added to the phase that just ended.
class Laps {
 public:
  void lap(double& into) {
    const auto now = std::chrono::steady_clock::now();
    into += std::chrono::duration<double, std::milli>(now - last_).count();
    last_ = now;
  }

 private:
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
};

}  // namespace

double answer_error(const float* logits, const std::vector<int64_t>& targets, int64_t V) {
  int answers = 0, wrong = 0;
  bool in_answer = false, missed = false;
  for (size_t t = 0; t <= targets.size(); ++t) {
    const bool supervised = t < targets.size() && targets[t] != kIgnoreIndex;
    if (supervised) {
      const float* row = logits + int64_t(t) * V;
      missed = missed || std::max_element(row, row + V) - row != targets[t];
    } else if (in_answer) {
      ++answers, wrong += missed, missed = false;
    }
    in_answer = supervised;
  }
  return answers ? double(wrong) / answers : 0.0;
}

StepResult ada_train_step(const LlavaModel& m, const Params& p, const Sample& s, int units, float tau,
                          const GumbelSource& noise) {
  Grads grads = p.zeros_like();
  StepResult r = ada_train_step(m, p, s, units, tau, noise, grads, 1.f);
  r.grads = std::move(grads);
  return r;
}

StepResult ada_train_step(const LlavaModel& m, const Params& p, const Sample& s, int units, float tau,
                          const GumbelSource& noise, Grads& G, float loss_scale) {
  StepResult r;
  Laps laps;
  Forward f;
  f.model = bind_params(m, p);
  const bool ada = f.model->adaptive() != nullptr;  // false: plain LLaVA, every layer runs
  const int N = m.config().text.num_layers, nh = m.config().text.num_heads;
  const int P = ada ? f.model->adaptive()->config.num_prefix_layers : N;
  image_forward(f, m, p, s.pixels);
  laps.lap(r.times.vision_forward);

  merge_sequence(f, m, s, units);
  r.latency_position = f.latency_position;
  const std::vector<float> ones(2 * size_t(nh), 1.f), zeros(2 * size_t(nh), 0.f);
  f.plans.assign(size_t(N), gated_plan(nh, ones.data(), ones.data() + nh));
  for (int l : s.skipped_layers) {  // stochastic depth: the layer is the identity
    if (ada || l < 0 || l >= N) throw Error("skipped layer " + std::to_string(l) + ": needs a plain LLaVA of more layers");
    f.plans[size_t(l)] = gated_plan(nh, zeros.data(), zeros.data() + nh);
  }
  const int lowest = s.exact_plan_gradient ? N : lowest_trained_layer(p, G, ada, N);
  f.layers.resize(size_t(N));
  run_layers(f, 0, P, lowest);
  if (ada && s.exact_plan_gradient) {
    exact_plan_gradient(r, f, units, G, loss_scale, s.plan_score);
    laps.lap(r.times.llm_forward);
    return r;
  }
  if (ada) schedule(f, r, units, tau, noise);
  run_layers(f, P, N, lowest);
  const std::vector<float> dlogits = loss_forward(f, r, loss_scale);
  laps.lap(r.times.llm_forward);

  std::vector<float> dx = head_backward(f, dlogits, G);
  decoder_backward(dx, f, r, lowest, tau, G);
  if (lowest > 0) {  // nothing below the layers that train
    laps.lap(r.times.llm_backward);
    return r;
  }
  const std::vector<float> dimg = inputs_backward(f, dx, G);
  laps.lap(r.times.llm_backward);
  if (f.n_img > 0) image_backward(f, p, dimg, G);
  laps.lap(r.times.vision_backward);
  return r;
}

}  // namespace adallava::train
