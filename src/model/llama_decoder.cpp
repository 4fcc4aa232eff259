#include "model/llama_decoder.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/attention.h"
#include "kernels/ops.h"
#include "model/tensor_names.h"
#include "tensor/error.h"

namespace adallava {

LlamaDecoder LlamaDecoder::load(const TensorStore& store, const TextConfig& cfg, const std::string& prefix,
                                const std::string& lm_head) {
  LlamaDecoder d;
  d.cfg_ = cfg;
  const int64_t H = cfg.hidden_size, I = cfg.intermediate_size, V = cfg.vocab_size;
  const int64_t qd = int64_t(cfg.num_heads) * cfg.head_dim, kvd = int64_t(cfg.num_kv_heads) * cfg.head_dim;
  d.embed_ = load_matrix(store, prefix + names::kEmbed, V, H);
  if (store.has(lm_head) || !cfg.tie_word_embeddings)
    d.lm_head_ = load_matrix(store, lm_head, V, H);
  else
    d.lm_head_ = d.embed_;
  d.norm_ = load_vector(store, prefix + names::kFinalNorm, H);
  for (int l = 0; l < cfg.num_layers; ++l) {
    const std::string p = names::decoder_layer(prefix, l);
    LlamaLayer L;
    L.attn_norm = load_vector(store, p + names::kAttnNorm, H);
    L.mlp_norm = load_vector(store, p + names::kMlpNorm, H);
    L.q = Linear{load_matrix(store, p + names::kQ, qd, H), {}};
    L.k = Linear{load_matrix(store, p + names::kK, kvd, H), {}};
    L.v = Linear{load_matrix(store, p + names::kV, kvd, H), {}};
    L.o = Linear{load_matrix(store, p + names::kO, H, qd), {}};
    L.gate = Linear{load_matrix(store, p + names::kGate, I, H), {}};
    L.up = Linear{load_matrix(store, p + names::kUp, I, H), {}};
    L.down = Linear{load_matrix(store, p + names::kDown, H, I), {}};
    d.layers_.push_back(std::move(L));
  }
  d.inv_freq_.resize(size_t(cfg.head_dim / 2));
  rope_inv_freq(d.inv_freq_.data(), cfg.head_dim, cfg.rope_theta);
  return d;
}

void LlamaDecoder::embed(float* out, const int64_t* ids, int64_t T) const {
  const int64_t H = cfg_.hidden_size;
  for (int64_t t = 0; t < T; ++t) {
    if (ids[t] < 0 || ids[t] >= cfg_.vocab_size)
      throw Error("token id " + std::to_string(ids[t]) + " is outside the vocabulary [0, " +
                  std::to_string(cfg_.vocab_size) + ")");
    to_f32(embed_.dtype, embed_.at(ids[t], 0), out + t * H, size_t(H));
  }
}

namespace {
// Per-thread scratch reused across layers and tokens (decode would otherwise allocate every layer).
struct LayerScratch {
  std::vector<float> xn, q, k, v, att, g, u, gated;
};
LayerScratch& layer_scratch() {
  thread_local LayerScratch s;
  return s;
}
float* sized(std::vector<float>& v, int64_t n) {
  if (v.size() < size_t(n)) v.resize(size_t(n));
  return v.data();
}
// A trace's buffer when tracing (written in place: no copies), else the scratch one.
float* traced(std::vector<float>* trace, std::vector<float>& scratch, int64_t n) {
  if (!trace) return sized(scratch, n);
  trace->resize(size_t(n));
  return trace->data();
}
}  // namespace

void LlamaDecoder::attention_block(const LlamaLayer& L, const LayerPlan& lp, float* x, int64_t T,
                                   const int64_t* positions, KvView kv, int64_t past, Precision p,
                                   LlamaLayerTrace* trace) const {
  LayerScratch& s = layer_scratch();
  const int64_t H = cfg_.hidden_size;
  const int hd = cfg_.head_dim;
  // A partial head set is MHA (checked by check_plan), so its KV heads are its heads.
  const bool full_heads = int(lp.heads.size()) == cfg_.num_heads;
  const int na = int(lp.heads.size()), nkv = full_heads ? cfg_.num_kv_heads : na;
  const int64_t qd = int64_t(na) * hd, kvd = int64_t(nkv) * hd;
  float* xn = sized(s.xn, T * H);
  float* q = traced(trace ? &trace->q : nullptr, s.q, T * qd);
  float* k = traced(trace ? &trace->k : nullptr, s.k, T * kvd);
  float* v = traced(trace ? &trace->v : nullptr, s.v, T * kvd);
  float* att = traced(trace ? &trace->att : nullptr, s.att, T * qd);
  float* probs = trace ? traced(&trace->probs, s.att, int64_t(na) * T * (past + T)) : nullptr;
  const auto head_runs = contiguous_runs(lp.heads);
  const std::vector<std::pair<int, int>> kv_runs =
      full_heads ? std::vector<std::pair<int, int>>{{0, cfg_.num_kv_heads}} : head_runs;
  rms_norm(xn, x, L.attn_norm.data(), T, H, cfg_.rms_norm_eps);
  int64_t off = 0;
  for (auto [h0, n] : head_runs) {
    matmul(q + off, qd, xn, H, T, L.q.w.row_block(int64_t(h0) * hd, int64_t(n) * hd), nullptr, p);
    off += int64_t(n) * hd;
  }
  off = 0;
  for (auto [h0, n] : kv_runs) {
    matmul(k + off, kvd, xn, H, T, L.k.w.row_block(int64_t(h0) * hd, int64_t(n) * hd), nullptr, p);
    matmul(v + off, kvd, xn, H, T, L.v.w.row_block(int64_t(h0) * hd, int64_t(n) * hd), nullptr, p);
    off += int64_t(n) * hd;
  }
  rope_apply(q, qd, T, na, hd, positions, inv_freq_.data(), cfg_.rope_adjacent_pairs);
  rope_apply(k, kvd, T, nkv, hd, positions, inv_freq_.data(), cfg_.rope_adjacent_pairs);
  kv_store(kv, k, kvd, v, kvd, T, past);
  attention(att, qd, q, qd, T, past, na, kv, 1.f / std::sqrt(float(hd)), /*causal=*/true, probs);
  if (!lp.head_gates.empty()) {  // the masked form: each head's output times its gate (the trace keeps it ungated)
    float* gated = trace ? sized(s.gated, T * qd) : att;
    for (int64_t t = 0; t < T; ++t)
      for (int i = 0; i < na; ++i)
        for (int c = 0; c < hd; ++c)
          gated[t * qd + i * hd + c] = att[t * qd + i * hd + c] * lp.head_gates[size_t(lp.heads[size_t(i)])];
    att = gated;
  }
  off = 0;
  for (auto [h0, n] : head_runs) {
    matmul(x, H, att + off, qd, T, L.o.w.col_block(int64_t(h0) * hd, int64_t(n) * hd), nullptr, p,
           /*accumulate=*/true);
    off += int64_t(n) * hd;
  }
}

void LlamaDecoder::mlp_block(const LlamaLayer& L, const LayerPlan& lp, float* x, int64_t T, Precision p,
                             LlamaLayerTrace* trace) const {
  LayerScratch& s = layer_scratch();
  const int64_t H = cfg_.hidden_size, I = cfg_.intermediate_size;
  const int nh = cfg_.num_heads;
  std::vector<std::pair<int64_t, int64_t>> neuron_runs;  // (first neuron, count), merged
  for (auto [g0, n] : contiguous_runs(lp.mlp_groups)) {
    const int64_t b = mlp_group_range(I, nh, g0).first, e = mlp_group_range(I, nh, g0 + n - 1).second;
    neuron_runs.push_back({b, e - b});
  }
  int64_t ni = 0;
  for (auto [b, n] : neuron_runs) ni += n;
  float* xn = sized(s.xn, T * H);
  float* g = traced(trace ? &trace->g : nullptr, s.g, T * ni);
  float* u = traced(trace ? &trace->u : nullptr, s.u, T * ni);
  rms_norm(xn, x, L.mlp_norm.data(), T, H, cfg_.rms_norm_eps);
  int64_t off = 0;
  for (auto [b, n] : neuron_runs) {
    matmul(g + off, ni, xn, H, T, L.gate.w.row_block(b, n), nullptr, p);
    matmul(u + off, ni, xn, H, T, L.up.w.row_block(b, n), nullptr, p);
    off += n;
  }
  if (trace) {  // SwiGLU out of place: the trace keeps g
    trace->act.assign(g, g + T * ni);
    g = trace->act.data();
  }
  swiglu(g, u, T * ni);
  if (!lp.group_gates.empty()) {  // the masked form: each neuron times its group's gate (the trace keeps it ungated)
    std::vector<float> gate_of;   // per active neuron, in order
    for (int grp : lp.mlp_groups) {
      auto [b, e] = mlp_group_range(I, nh, grp);
      gate_of.insert(gate_of.end(), size_t(e - b), lp.group_gates[size_t(grp)]);
    }
    float* gated = trace ? sized(s.gated, T * ni) : g;
    for (int64_t t = 0; t < T; ++t)
      for (int64_t n = 0; n < ni; ++n) gated[t * ni + n] = g[t * ni + n] * gate_of[size_t(n)];
    g = gated;
  }
  off = 0;
  for (auto [b, n] : neuron_runs) {
    matmul(x, H, g + off, ni, T, L.down.w.col_block(b, n), nullptr, p, /*accumulate=*/true);
    off += n;
  }
}

// Only what the plan runs is computed: the active heads' attention, the active groups' neurons.
void LlamaDecoder::run_layer(const LlamaLayer& L, const LayerPlan& lp, float* x, int64_t T,
                             const int64_t* positions, KvView kv, int64_t past, Precision p,
                             LlamaLayerTrace* trace) const {
  const int64_t H = cfg_.hidden_size;
  if (trace) trace->x.assign(x, x + T * H);
  if (!lp.heads.empty()) attention_block(L, lp, x, T, positions, kv, past, p, trace);
  if (trace) trace->x2.assign(x, x + T * H);
  if (!lp.mlp_groups.empty()) mlp_block(L, lp, x, T, p, trace);
}

void LlamaDecoder::check_plan(int l, const LayerPlan& lp) const {
  const bool full_heads = int(lp.heads.size()) == cfg_.num_heads;
  if (!full_heads && !lp.heads.empty() && cfg_.num_kv_heads != cfg_.num_heads)
    throw Error("a plan with part of the attention heads of a layer needs one KV head per head; this model has " +
                std::to_string(cfg_.num_kv_heads) + " KV heads for " + std::to_string(cfg_.num_heads) + " heads");
  const size_t n = size_t(cfg_.num_heads);
  if ((!lp.head_gates.empty() && lp.head_gates.size() != n) || (!lp.group_gates.empty() && lp.group_gates.size() != n))
    throw Error("the gates of layer " + std::to_string(l) + " need " + std::to_string(n) + " values each");
}

void LlamaDecoder::run_layers(float* x, int64_t T, int l0, int l1, const int64_t* positions, KvCache& cache,
                              const ExecutionPlan& plan, Precision p, std::vector<float>* layer_outputs) const {
  const int64_t H = cfg_.hidden_size;
  if (cache.length() + T > cache.capacity())
    throw Error("sequence of " + std::to_string(cache.length() + T) + " tokens exceeds the KV cache capacity " +
                std::to_string(cache.capacity()));
  if (layer_outputs) layer_outputs->resize(size_t(cfg_.num_layers * T * H));
  for (int l = l0; l < l1; ++l) {
    const LayerPlan& lp = plan.layer(l);
    if (!lp.empty()) {
      check_plan(l, lp);
      if (cache.heads(l) != kv_heads_for(lp, cfg_.num_heads, cfg_.num_kv_heads))
        throw Error("internal: KV cache of layer " + std::to_string(l) + " does not match the plan");
      run_layer(layers_[size_t(l)], lp, x, T, positions, cache.layer(l), cache.rows(l), p, nullptr);
    }
    if (layer_outputs) std::memcpy(layer_outputs->data() + size_t(l) * T * H, x, size_t(T * H) * 4);
  }
}

void LlamaDecoder::forward_layer(int l, const LayerPlan& lp, float* x, int64_t T, const int64_t* positions,
                                 Precision p, LlamaLayerTrace* trace) const {
  check_plan(l, lp);
  const int nkv = kv_heads_for(lp, cfg_.num_heads, cfg_.num_kv_heads);
  thread_local std::vector<float> k, v;  // this sequence's K/V, head-major
  const int64_t n = int64_t(nkv) * T * cfg_.head_dim;
  KvView kv{sized(k, n), sized(v, n), T, cfg_.head_dim, nkv};
  run_layer(layers_[size_t(l)], lp, x, T, positions, kv, 0, p, trace);
}

std::vector<float> LlamaDecoder::attention_probs(int l, const float* x, int64_t position, KvCache& cache,
                                                 int64_t n_keys, Precision p) const {
  const LlamaLayer& L = layers_[size_t(l)];
  const int64_t H = cfg_.hidden_size;
  const int nh = cfg_.num_heads, hd = cfg_.head_dim, group = cfg_.num_heads / cfg_.num_kv_heads;
  if (cache.heads(l) != cfg_.num_kv_heads)
    throw Error("internal: attention probabilities need layer " + std::to_string(l) + " to run all its heads");
  std::vector<float> xn(static_cast<size_t>(H)), q(size_t(nh * hd)), k(static_cast<size_t>(hd)),
      probs(static_cast<size_t>(n_keys), 0.f);
  rms_norm(xn.data(), x, L.attn_norm.data(), 1, H, cfg_.rms_norm_eps);
  matmul(q.data(), nh * hd, xn.data(), H, 1, L.q.w, nullptr, p);
  rope_apply(q.data(), nh * hd, 1, nh, hd, &position, inv_freq_.data(), cfg_.rope_adjacent_pairs);
  const KvView kv = cache.layer(l);
  std::vector<double> logit(static_cast<size_t>(n_keys));
  const double scale = 1.0 / std::sqrt(double(hd));
  for (int h = 0; h < nh; ++h) {
    for (int64_t j = 0; j < n_keys; ++j) {
      to_f32(kv.dtype, kv.row(kv.k, h / group, j), k.data(), size_t(hd));
      double s = 0;
      for (int c = 0; c < hd; ++c) s += double(q[size_t(h * hd + c)]) * double(k[size_t(c)]);
      logit[size_t(j)] = s * scale;
    }
    const double mx = *std::max_element(logit.begin(), logit.end());
    double sum = 0;
    for (double& v : logit) sum += (v = std::exp(v - mx));
    for (int64_t j = 0; j < n_keys; ++j) probs[size_t(j)] += float(logit[size_t(j)] / sum / nh);
  }
  return probs;
}

void LlamaDecoder::final_norm(float* out, const float* x, int64_t T) const {
  rms_norm(out, x, norm_.data(), T, cfg_.hidden_size, cfg_.rms_norm_eps);
}

void LlamaDecoder::lm_head(float* logits, const float* normed, int64_t T, Precision p) const {
  matmul(logits, cfg_.vocab_size, normed, cfg_.hidden_size, T, lm_head_, nullptr, p);
}

double LlamaDecoder::layer_weights(const LayerPlan& lp) const {
  const int64_t H = cfg_.hidden_size, I = cfg_.intermediate_size, hd = cfg_.head_dim;
  const int64_t na = int64_t(lp.heads.size()), nkv = kv_heads_for(lp, cfg_.num_heads, cfg_.num_kv_heads);
  int64_t neurons = 0;
  for (int g : lp.mlp_groups) {
    auto [b, e] = mlp_group_range(I, cfg_.num_heads, g);
    neurons += e - b;
  }
  return double(H) * double(2 * na * hd + 2 * nkv * hd + 3 * neurons);
}

double LlamaDecoder::prefill_flops(const ExecutionPlan& plan, int64_t rows, int64_t kept, int cut) const {
  double f = 2.0 * double(cfg_.vocab_size) * double(cfg_.hidden_size);
  for (int l = 0; l < cfg_.num_layers; ++l) {
    const LayerPlan& lp = plan.layer(l);
    const double n = double(l < cut ? rows : kept);
    f += 2.0 * layer_weights(lp) * n + 2.0 * double(lp.heads.size()) * cfg_.head_dim * n * (n + 1);
  }
  return f;
}

double LlamaDecoder::executed_fraction(const ExecutionPlan& plan) const {
  const ExecutionPlan full = ExecutionPlan::full(cfg_.num_layers, cfg_.num_heads);
  double run = 0, all = 0;
  for (int l = 0; l < cfg_.num_layers; ++l) {
    run += layer_weights(plan.layer(l));
    all += layer_weights(full.layer(l));
  }
  return run / all;
}

size_t LlamaDecoder::weight_bytes(const ExecutionPlan* plan) const {
  // Layers at the bytes per element of their MLP (a mixed GGUF keeps a few matrices in another type).
  double b = double(lm_head_.rows * lm_head_.cols) * bytes_per_element(lm_head_.dtype);
  const ExecutionPlan full = ExecutionPlan::full(cfg_.num_layers, cfg_.num_heads);
  for (int l = 0; l < cfg_.num_layers; ++l)
    b += layer_weights((plan ? *plan : full).layer(l)) * bytes_per_element(layers_[size_t(l)].gate.w.dtype);
  return size_t(b);
}

}  // namespace adallava
