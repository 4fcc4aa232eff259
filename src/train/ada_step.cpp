#include "train/ada_step.h"

#include <algorithm>
#include <chrono>
#include <numeric>

#include "adaptive/latency_encoder.h"
#include "tensor/error.h"
#include "train/decoder_layer.h"
#include "train/grad_ops.h"
#include "train/vision_tower.h"

namespace adallava::train {

namespace {

// Every plan of `units` gated layers out of n, as bit masks (ascending), at most `limit`.
std::vector<uint32_t> layer_subsets(int n, int units, size_t limit) {
  std::vector<uint32_t> out;
  if (n > 24) throw Error("--train scheduler-exact: " + std::to_string(n) + " gated layers are too many to enumerate");
  for (uint32_t m = 0; m < (1u << n); ++m)
    if (__builtin_popcount(m) == units) {
      out.push_back(m);
      if (out.size() > limit)
        throw Error("--train scheduler-exact: more than " + std::to_string(limit) + " plans of " +
                    std::to_string(units) + " layers out of " + std::to_string(n) + " to enumerate");
    }
  return out;
}

std::string layer_name(int l, const char* what) {
  return "model.layers." + std::to_string(l) + "." + what;
}

const char* kLayerTensors[] = {
    "input_layernorm.weight",  "post_attention_layernorm.weight", "self_attn.q_proj.weight", "self_attn.k_proj.weight",
    "self_attn.v_proj.weight", "self_attn.o_proj.weight",         "mlp.gate_proj.weight",    "mlp.up_proj.weight",
    "mlp.down_proj.weight"};

const char* kVisionLayerTensors[] = {
    "layer_norm1.weight",     "layer_norm1.bias",     "self_attn.q_proj.weight", "self_attn.q_proj.bias",
    "self_attn.k_proj.weight", "self_attn.k_proj.bias", "self_attn.v_proj.weight", "self_attn.v_proj.bias",
    "self_attn.out_proj.weight", "self_attn.out_proj.bias", "layer_norm2.weight", "layer_norm2.bias",
    "mlp.fc1.weight",          "mlp.fc1.bias",          "mlp.fc2.weight",          "mlp.fc2.bias"};

// The vision tower's params (Out = VisionParams) or grads (VisionGrads, null where frozen), by
// checkpoint name, from a lookup name → pointer.
template <class Out, class Lookup>
Out vision_view(const Lookup& lookup, int layers) {
  auto f = [&](const std::string& n) { return lookup(kEmbeddedVisionPrefix + n); };
  Out o{f("embeddings.patch_embedding.weight"), f("embeddings.class_embedding"),
        f("embeddings.position_embedding.weight"), f("pre_layrnorm.weight"), f("pre_layrnorm.bias"), {}};
  for (int l = 0; l < layers; ++l) {
    const std::string p = "encoder.layers." + std::to_string(l) + ".";
    auto g = [&](int i) { return f(p + kVisionLayerTensors[i]); };
    o.layers.push_back({g(0), g(1), g(2), g(3), g(4), g(5), g(6), g(7), g(8), g(9), g(10), g(11), g(12), g(13), g(14),
                        g(15)});
  }
  return o;
}

Act vision_act(const std::string& name) {
  if (name == "quick_gelu") return Act::QuickGelu;
  if (name == "gelu") return Act::GeluErf;
  throw Error("vision hidden_act '" + name + "' cannot be trained (quick_gelu, gelu)");
}

VisionParams<float> vision_params(const Grads& w, int layers) {
  return vision_view<VisionParams<float>>([&](const std::string& n) { return w.at(n).data(); }, layers);
}

template <class GradPtr>
VisionGrads<float> vision_grads(const GradPtr& gp, int layers) {
  return vision_view<VisionGrads<float>>(gp, layers);
}

LayerParams<float> layer_params(const std::map<std::string, std::vector<float>>& m, int l) {
  auto f = [&](int i) { return m.at(layer_name(l, kLayerTensors[i])).data(); };
  return {f(0), f(1), f(2), f(3), f(4), f(5), f(6), f(7), f(8)};
}

template <class GradPtr>
LayerGrads<float> layer_grads(const GradPtr& gp, int l) {
  auto f = [&](int i) { return gp(layer_name(l, kLayerTensors[i])); };
  return {f(0), f(1), f(2), f(3), f(4), f(5), f(6), f(7), f(8)};
}

}  // namespace

static std::vector<std::string> vision_tensor_names(int layers) {
  std::vector<std::string> n = {"embeddings.patch_embedding.weight", "embeddings.class_embedding",
                                "embeddings.position_embedding.weight", "pre_layrnorm.weight", "pre_layrnorm.bias"};
  for (int l = 0; l < layers; ++l)
    for (const char* t : kVisionLayerTensors) n.push_back("encoder.layers." + std::to_string(l) + "." + t);
  return n;
}

Params Params::from_model(const LlavaModel& m, bool train_vision) {
  if (m.config().layout == Layout::TextOnly) throw Error(m.dir() + ": training needs a LLaVA checkpoint");
  Params p;
  const LlamaDecoder& d = m.decoder();
  auto& v = p.values;
  auto& shape = p.shapes;
  const int64_t H = d.config().hidden_size, V = d.config().vocab_size;
  v["model.embed_tokens.weight"] = widen_matrix(d.embed_weight());
  v["lm_head.weight"] = widen_matrix(d.lm_head_weight());
  v["model.norm.weight"] = d.final_norm_weight();
  shape["model.embed_tokens.weight"] = shape["lm_head.weight"] = {V, H};
  shape["model.norm.weight"] = {H};
  auto add_linear = [&](const std::string& name, const WeightView& w) {
    v[name] = widen_matrix(w);
    shape[name] = {w.rows, w.cols};
  };
  for (int l = 0; l < d.config().num_layers; ++l) {
    const LlamaLayer& L = d.layer(l);
    v[layer_name(l, kLayerTensors[0])] = L.attn_norm;
    v[layer_name(l, kLayerTensors[1])] = L.mlp_norm;
    shape[layer_name(l, kLayerTensors[0])] = shape[layer_name(l, kLayerTensors[1])] = {H};
    const Linear* lin[] = {&L.q, &L.k, &L.v, &L.o, &L.gate, &L.up, &L.down};
    for (int i = 0; i < 7; ++i) add_linear(layer_name(l, kLayerTensors[2 + i]), lin[i]->w);
  }
  const Projector& pr = m.projector();
  add_linear("model.mm_projector.0.weight", pr.l1.w);
  add_linear("model.mm_projector.2.weight", pr.l2.w);
  v["model.mm_projector.0.bias"] = pr.l1.b;
  v["model.mm_projector.2.bias"] = pr.l2.b;
  shape["model.mm_projector.0.bias"] = shape["model.mm_projector.2.bias"] = {H};
  if (const AdaLlavaParts* a = m.adaptive()) {
    const std::string e = "scheduler.scheduler_up_proj.net.";
    for (const auto& [name, t] : a->encoder.tensors()) v[e + name] = t;
    shape[e + "0.weight"] = shape[e + "0.bias"] = {kLatencyEncodingDim};
    shape[e + "1.weight"] = {H, kLatencyEncodingDim};
    shape[e + "1.bias"] = shape[e + "3.bias"] = {H};
    shape[e + "3.weight"] = {H, H};
    v["scheduler.mlp_head.weight"] = a->scheduler.head_weight();
    v["scheduler.mlp_head.bias"] = a->scheduler.head_bias();
    const int64_t out_n = int64_t(v["scheduler.mlp_head.bias"].size());
    shape["scheduler.mlp_head.weight"] = {out_n, H};
    shape["scheduler.mlp_head.bias"] = {out_n};
  }
  p.train_vision = train_vision;
  if (train_vision || (m.has_vision() && m.vision_is_embedded())) {
    if (!m.has_vision()) throw Error(m.dir() + ": --train all needs a vision tower");
    for (const std::string& n : vision_tensor_names(m.vision().feature_index())) {
      const TensorRecord* r = m.vision_tensor(n);
      if (!r) throw Error(m.dir() + ": vision tower tensor " + n + " is missing");
      std::vector<float>& dst = v[kEmbeddedVisionPrefix + n];
      dst.resize(size_t(r->numel()));
      to_f32(r->dtype, r->data, dst.data(), dst.size());
      shape[kEmbeddedVisionPrefix + n] = r->shape;
    }
  }
  for (const auto& [name, t] : v) {
    int64_t n = 1;
    for (int64_t x : shape.at(name)) n *= x;
    if (n != int64_t(t.size())) throw Error("internal: parameter " + name + " has the wrong shape");
  }
  return p;
}

bool Params::has_vision() const {
  return values.count(kEmbeddedVisionPrefix + std::string("pre_layrnorm.weight")) != 0;
}

const float* Params::at(const std::string& name) const {
  return values.at(name).data();
}
float* Params::at(const std::string& name) {
  return values.at(name).data();
}

std::map<std::string, std::vector<float>> Params::zeros_like() const {
  std::map<std::string, std::vector<float>> z;
  for (const auto& [name, t] : values) z[name].assign(t.size(), 0.f);
  return z;
}

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

// The scheduler reads the latency row lp of x, the state entering the first gated layer.
void scheduler_forward(StepResult& r, const Params& p, const std::vector<float>& x, int64_t lp, int64_t H,
                       int64_t outputs) {
  r.scheduler_input.assign(x.begin() + lp * H, x.begin() + (lp + 1) * H);
  r.scheduler_logits.assign(size_t(outputs), 0.f);
  linear_forward(r.scheduler_logits.data(), r.scheduler_input.data(), p.at("scheduler.mlp_head.weight"),
                 p.at("scheduler.mlp_head.bias"), 1, H, outputs);
}

// --train scheduler-exact (AdaLLaVA-L): x is the decoder state entering the first gated layer.
// Every plan S of `units` gated layers runs forward to its loss L_S (its answer error with
// PlanScore::AnswerError); the scheduler's plan distribution is p(S) ∝ exp(Σ_{j∈S} logit_j),
// whose most likely plan is the top-k plan that inference runs, and the loss is the expectation
// E = Σ_S p(S)·L_S, with the exact gradient dE/dlogit_j = Σ_{S∋j} p(S)·(L_S − E). Only the
// scheduler's head gets a gradient (the latency encoder reaches the loss through every row's
// attention as well, which this does not follow).
void exact_plan_gradient(StepResult& r, const LlavaModel& m, const Params& p, const std::vector<float>& x,
                         int64_t lp, const std::vector<int64_t>& labels, int units, const LayerShape& sh, Grads& G,
                         float loss_scale, Sample::PlanScore score_by, LayerActs<float>& scratch) {
  const TextConfig& c = m.config().text;
  const AdaConfig& a = m.adaptive()->config;
  if (a.type != SchedulerType::L) throw Error("--train scheduler-exact: needs an AdaLLaVA-L checkpoint");
  const int64_t H = c.hidden_size, V = c.vocab_size, T = sh.T;
  const int P = a.num_prefix_layers, n = a.num_gated_layers, nh = c.num_heads;
  scheduler_forward(r, p, x, lp, H, n);
  const std::vector<int64_t> targets = next_token_targets(labels);
  const std::vector<uint32_t> plans = layer_subsets(n, units, 256);
  std::vector<double> loss(plans.size()), score(plans.size());
  const std::vector<float> ones(2 * size_t(nh), 1.f);
  std::vector<float> h, out(x.size()), xn(x.size()), rr(static_cast<size_t>(T)), logits(static_cast<size_t>(T * V));
  std::vector<float> dlogits(score_by == Sample::PlanScore::Loss ? logits.size() : 0);  // cross_entropy's, unused
  size_t best = 0;
  for (size_t i = 0; i < plans.size(); ++i) {
    h = x;
    score[i] = 0;
    for (int g = 0; g < n; ++g) {
      if (!(plans[i] >> g & 1u)) continue;  // a gated-off layer adds nothing to the residual stream
      score[i] += r.scheduler_logits[size_t(g)];
      layer_forward(out.data(), h.data(), layer_params(p.values, P + g), ones.data(), ones.data() + nh, sh, scratch);
      h.swap(out);
    }
    rms_norm_forward(xn.data(), rr.data(), h.data(), p.at("model.norm.weight"), T, H, float(c.rms_norm_eps));
    linear_forward(logits.data(), xn.data(), p.at("lm_head.weight"), (const float*)nullptr, T, H, V);
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
  std::vector<float> dinput(size_t(H), 0.f);
  linear_backward(dinput.data(), grad_of(G, "scheduler.mlp_head.weight"), grad_of(G, "scheduler.mlp_head.bias"),
                  dlogit.data(), r.scheduler_input.data(), p.at("scheduler.mlp_head.weight"), 1, H, n);
}

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
  const TextConfig& c = m.config().text;
  const AdaLlavaParts* ada = m.adaptive();  // null: plain LLaVA, every layer runs
  const int64_t H = c.hidden_size, V = c.vocab_size, C = m.config().vision.hidden_size;
  const int N = c.num_layers, P = ada ? ada->config.num_prefix_layers : N, nh = c.num_heads;
  StepResult r;
  auto clock = std::chrono::steady_clock::now();
  auto lap = [&clock](double& into) {  // ms since the previous lap
    const auto now = std::chrono::steady_clock::now();
    into += std::chrono::duration<double, std::milli>(now - clock).count();
    clock = now;
  };
  auto gp = [&G](const std::string& name) { return grad_of(G, name); };
  const auto& W = p.values;

  // Vision (in the params when it trains, else frozen in the model) and projector:
  // features (n_img, C) → image rows (n_img, H).
  std::vector<float> feats, hidden;
  int64_t n_img = 0;
  const int64_t skip = m.config().keep_cls ? 0 : 1;
  VisionShape vs;
  VisionActs<float> vacts;
  if (s.pixels) {
    if (p.train_vision) {
      const VisionConfig& vc = m.vision().config();
      vs.hidden = vc.hidden_size, vs.intermediate = vc.intermediate_size, vs.patch = vc.patch_size;
      vs.image = vc.image_size, vs.heads = vc.num_heads, vs.layers = m.vision().feature_index();
      vs.ln_eps = vc.layer_norm_eps, vs.act = vision_act(vc.hidden_act);
      hidden.resize(size_t(vs.tokens() * C));
      vision_forward(hidden.data(), s.pixels, vision_params(W, vs.layers),
                     vs, vacts);
    } else {
      hidden = m.vision().encode(s.pixels, Precision::F32);
    }
    n_img = m.vision().tokens() - skip;
    feats.assign(hidden.begin() + skip * C, hidden.end());
  }
  std::vector<float> h1(size_t(n_img * H)), a1(size_t(n_img * H)), img(size_t(n_img * H));
  linear_forward(h1.data(), feats.data(), p.at("model.mm_projector.0.weight"), p.at("model.mm_projector.0.bias"), n_img,
                 C, H);
  act_forward(Act::GeluErf, a1.data(), h1.data(), n_img * H);
  linear_forward(img.data(), a1.data(), p.at("model.mm_projector.2.weight"), p.at("model.mm_projector.2.bias"), n_img,
                 H, H);

  lap(r.times.vision_forward);

  // Merge: image rows in place of the image token (their labels ignored), then the latency
  // token right after the last ignored label (before the final answer).
  std::vector<float> x;
  std::vector<int64_t> labels, ids;  // ids: −1 for image rows and the latency row
  for (size_t i = 0; i < s.ids.size(); ++i) {
    if (s.ids[i] == m.config().image_token_id) {
      x.insert(x.end(), img.begin(), img.end());
      labels.insert(labels.end(), size_t(n_img), kIgnoreIndex);
      ids.insert(ids.end(), size_t(n_img), -1);
    } else {
      const float* e = p.at("model.embed_tokens.weight") + s.ids[i] * H;
      x.insert(x.end(), e, e + H);
      labels.push_back(s.labels[i]);
      ids.push_back(s.ids[i]);
    }
  }
  int64_t last_ignored = -1;
  for (size_t i = 0; i < labels.size(); ++i)
    if (labels[i] == kIgnoreIndex) last_ignored = int64_t(i);
  const int64_t lp = ada ? last_ignored + 1 : -1;
  r.latency_position = lp;
  // Latency token: encoding → LayerNorm → Linear → GELU → Linear.
  const std::string e = "scheduler.scheduler_up_proj.net.";
  constexpr int64_t kE = kLatencyEncodingDim;
  const size_t Hs = static_cast<size_t>(H);
  std::vector<float> enc, ln(kE), ln_mean(1), ln_r(1), e1(Hs), e1a(Hs), z(Hs);
  if (ada) {
    enc = latency_encoding(units, ada->config);
    layer_norm_forward(ln.data(), ln_mean.data(), ln_r.data(), enc.data(), p.at(e + "0.weight"), p.at(e + "0.bias"), 1,
                       kE, 1e-5f);
    linear_forward(e1.data(), ln.data(), p.at(e + "1.weight"), p.at(e + "1.bias"), 1, kE, H);
    act_forward(Act::GeluErf, e1a.data(), e1.data(), H);
    linear_forward(z.data(), e1a.data(), p.at(e + "3.weight"), p.at(e + "3.bias"), 1, H, H);
    x.insert(x.begin() + lp * H, z.begin(), z.end());
    labels.insert(labels.begin() + lp, kIgnoreIndex);
    ids.insert(ids.begin() + lp, -1);
  }
  const int64_t T = int64_t(labels.size());

  // Decoder: prefix in full, scheduler on the latency row before layer P, gated layers masked.
  std::vector<int64_t> pos(static_cast<size_t>(T));
  std::iota(pos.begin(), pos.end(), 0);
  LayerShape sh;
  sh.T = T, sh.hidden = H, sh.intermediate = c.intermediate_size, sh.n_heads = nh, sh.n_kv_heads = c.num_kv_heads;
  sh.head_dim = c.head_dim, sh.rms_eps = c.rms_norm_eps, sh.inv_freq = m.decoder().inv_freq(),
  sh.positions = pos.data();
  std::vector<LayerActs<float>> acts(static_cast<size_t>(N));
  std::vector<std::vector<float>> gates(static_cast<size_t>(N), std::vector<float>(2 * size_t(nh), 1.f));
  const int out_n = ada ? ada->config.head_outputs(nh) : 0;
  for (int l : s.skipped_layers) {
    if (ada || l < 0 || l >= N) throw Error("skipped layer " + std::to_string(l) + ": needs a plain LLaVA of more layers");
    std::fill(gates[size_t(l)].begin(), gates[size_t(l)].end(), 0.f);
  }
  for (int l = 0; l < N; ++l) {
    if (ada && l == P && s.exact_plan_gradient) {
      exact_plan_gradient(r, m, p, x, lp, labels, units, sh, G, loss_scale, s.plan_score, acts[size_t(l)]);
      lap(r.times.llm_forward);
      return r;
    }
    if (ada && l == P) {
      const AdaConfig& a = ada->config;
      scheduler_forward(r, p, x, lp, H, out_n);
      r.plan = a.type == SchedulerType::L
                   ? sample_plan_L(r.scheduler_logits, units, tau, noise)
                   : sample_plan_H(r.scheduler_logits, units, a.num_gated_layers, nh, a.scheduler_rank, tau, noise);
      for (int g = 0; g < a.num_gated_layers; ++g)
        for (int j = 0; j < 2 * nh; ++j)
          gates[size_t(P + g)][size_t(j)] =
              a.type == SchedulerType::L ? r.plan.plan[size_t(g)] : r.plan.plan[size_t(g) * 2 * size_t(nh) + size_t(j)];
    }
    std::vector<float> out(x.size());
    layer_forward(out.data(), x.data(), layer_params(W, l), gates[size_t(l)].data(), gates[size_t(l)].data() + nh, sh,
                  acts[size_t(l)]);
    x.swap(out);
  }
  std::vector<float> xn(x.size()), rr(static_cast<size_t>(T));
  rms_norm_forward(xn.data(), rr.data(), x.data(), p.at("model.norm.weight"), T, H, float(c.rms_norm_eps));
  r.logits.assign(size_t(T * V), 0.f);
  linear_forward(r.logits.data(), xn.data(), p.at("lm_head.weight"), (const float*)nullptr, T, H, V);
  const std::vector<int64_t> targets = next_token_targets(labels);
  std::vector<float> dlogits(r.logits.size(), 0.f);
  r.loss = cross_entropy(dlogits.data(), r.logits.data(), targets.data(), T, V, kIgnoreIndex, loss_scale);

  lap(r.times.llm_forward);

  // Backward.
  std::vector<float> dxn(x.size(), 0.f), dx(x.size(), 0.f);
  linear_backward(dxn.data(), gp("lm_head.weight"), (float*)nullptr, dlogits.data(), xn.data(),
                  p.at("lm_head.weight"), T, H, V);
  rms_norm_backward(dx.data(), gp("model.norm.weight"), dxn.data(), x.data(), p.at("model.norm.weight"),
                    rr.data(), T, H);
  std::vector<float> dplan(r.plan.plan.size(), 0.f);
  // The backward pass stops below the lowest layer that trains when nothing under it does
  // (embeddings, projector, tower, latency encoder): --train gated on a plain LLaVA.
  bool inputs_train = p.train_vision || gp("model.embed_tokens.weight") || gp("model.mm_projector.0.weight");
  if (ada) inputs_train = inputs_train || gp(e + "1.weight");
  int lowest = inputs_train ? 0 : N;
  for (int l = 0; l < N && lowest == N; ++l)
    if (gp(layer_name(l, "self_attn.q_proj.weight")) || gp(layer_name(l, "mlp.down_proj.weight"))) lowest = l;
  for (int l = N - 1; l >= lowest; --l) {
    std::vector<float> dprev(dx.size(), 0.f), dgate(2 * size_t(nh), 0.f);
    layer_backward(dprev.data(), dgate.data(), dgate.data() + nh, dx.data(), layer_params(W, l), layer_grads(gp, l),
                   gates[size_t(l)].data(), gates[size_t(l)].data() + nh, sh, acts[size_t(l)]);
    dx.swap(dprev);
    if (ada && l >= P) {
      const AdaConfig& a = ada->config;
      const int g = l - P;
      for (int j = 0; j < 2 * nh; ++j) {
        if (a.type == SchedulerType::L)
          dplan[size_t(g)] += dgate[size_t(j)];
        else
          dplan[size_t(g) * 2 * size_t(nh) + size_t(j)] += dgate[size_t(j)];
      }
    }
    if (ada && l == P) {  // the scheduler read the latency row here
      const AdaConfig& a = ada->config;
      const std::vector<float> dsl =
          a.type == SchedulerType::L
              ? sample_plan_backward_L(r.plan, dplan, tau)
              : sample_plan_backward_H(r.plan, r.scheduler_logits, dplan, a.num_gated_layers, nh, tau);
      linear_backward(dx.data() + lp * H, gp("scheduler.mlp_head.weight"),
                      gp("scheduler.mlp_head.bias"), dsl.data(), r.scheduler_input.data(),
                      p.at("scheduler.mlp_head.weight"), 1, H, out_n);
    }
  }
  if (lowest > 0) {  // nothing below the layers that train
    lap(r.times.llm_backward);
    return r;
  }
  // Inputs: latency row → encoder; image rows → projector; text rows → embeddings.
  if (ada) {
    std::vector<float> de1a(size_t(H), 0.f), de1(size_t(H), 0.f), dln(kE, 0.f);
    linear_backward(de1a.data(), gp(e + "3.weight"), gp(e + "3.bias"), dx.data() + lp * H,
                    e1a.data(), p.at(e + "3.weight"), 1, H, H);
    act_backward(Act::GeluErf, de1.data(), de1a.data(), e1.data(), H);
    linear_backward(dln.data(), gp(e + "1.weight"), gp(e + "1.bias"), de1.data(), ln.data(),
                    p.at(e + "1.weight"), 1, kE, H);
    layer_norm_backward((float*)nullptr, gp(e + "0.weight"), gp(e + "0.bias"), dln.data(),
                        enc.data(), p.at(e + "0.weight"), ln_mean.data(), ln_r.data(), 1, kE);
  }
  std::vector<float> dimg(img.size(), 0.f);
  int64_t img_row = 0;
  for (int64_t t = 0; t < T; ++t) {
    if (t == lp) continue;
    const float* g = dx.data() + t * H;
    if (ids[size_t(t)] < 0) {
      std::copy(g, g + H, dimg.begin() + img_row * H);
      ++img_row;
    } else if (float* table = gp("model.embed_tokens.weight")) {
      float* de = table + ids[size_t(t)] * H;
      for (int64_t i = 0; i < H; ++i) de[i] += g[i];
    }
  }
  lap(r.times.llm_backward);
  if (n_img > 0) {
    std::vector<float> da1(a1.size(), 0.f), dh1(h1.size(), 0.f);
    linear_backward(da1.data(), gp("model.mm_projector.2.weight"), gp("model.mm_projector.2.bias"),
                    dimg.data(), a1.data(), p.at("model.mm_projector.2.weight"), n_img, H, H);
    act_backward(Act::GeluErf, dh1.data(), da1.data(), h1.data(), n_img * H);
    std::vector<float> dhidden(hidden.size(), 0.f);
    linear_backward(p.train_vision ? dhidden.data() + skip * C : nullptr, gp("model.mm_projector.0.weight"),
                    gp("model.mm_projector.0.bias"), dh1.data(), feats.data(),
                    p.at("model.mm_projector.0.weight"), n_img, C, H);
    if (p.train_vision)
      vision_backward(dhidden.data(),
                      vision_params(W, vs.layers),
                      vision_grads(gp, vs.layers), vs,
                      vacts);
  }
  lap(r.times.vision_backward);
  return r;
}

}  // namespace adallava::train
