#include "model/llama_decoder.h"

#include <cmath>
#include <cstring>

#include "kernels/attention.h"
#include "kernels/ops.h"
#include "tensor/error.h"

namespace adallava {

LlamaDecoder LlamaDecoder::load(const TensorStore& store, const TextConfig& cfg, const std::string& prefix,
                                const std::string& lm_head) {
  LlamaDecoder d;
  d.cfg_ = cfg;
  const int64_t H = cfg.hidden_size, I = cfg.intermediate_size, V = cfg.vocab_size;
  const int64_t qd = int64_t(cfg.num_heads) * cfg.head_dim, kvd = int64_t(cfg.num_kv_heads) * cfg.head_dim;
  d.embed_ = load_matrix(store, prefix + "embed_tokens.weight", V, H);
  if (store.has(lm_head) || !cfg.tie_word_embeddings) d.lm_head_ = load_matrix(store, lm_head, V, H);
  else d.lm_head_ = d.embed_;
  d.norm_ = load_vector(store, prefix + "norm.weight", H);
  for (int l = 0; l < cfg.num_layers; ++l) {
    const std::string p = prefix + "layers." + std::to_string(l) + ".";
    LlamaLayer L;
    L.attn_norm = load_vector(store, p + "input_layernorm.weight", H);
    L.mlp_norm = load_vector(store, p + "post_attention_layernorm.weight", H);
    L.q = load_linear(store, p + "self_attn.q_proj", qd, H, false);
    L.k = load_linear(store, p + "self_attn.k_proj", kvd, H, false);
    L.v = load_linear(store, p + "self_attn.v_proj", kvd, H, false);
    L.o = load_linear(store, p + "self_attn.o_proj", H, qd, false);
    L.gate = load_linear(store, p + "mlp.gate_proj", I, H, false);
    L.up = load_linear(store, p + "mlp.up_proj", I, H, false);
    L.down = load_linear(store, p + "mlp.down_proj", H, I, false);
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

void LlamaDecoder::run_layer(const LlamaLayer& L, float* x, int64_t T, const int64_t* positions, KvView kv,
                             int64_t past, Precision p) const {
  const int64_t H = cfg_.hidden_size, I = cfg_.intermediate_size;
  const int nh = cfg_.num_heads, nkv = cfg_.num_kv_heads, hd = cfg_.head_dim;
  const int64_t qd = int64_t(nh) * hd, kvd = int64_t(nkv) * hd;
  std::vector<float> xn(size_t(T * H)), q(size_t(T * qd)), k(size_t(T * kvd)), v(size_t(T * kvd)),
      att(size_t(T * qd));

  // Attention block: x += o(attn(rope(q), rope(k), v)) of the normed input.
  rms_norm(xn.data(), x, L.attn_norm.data(), T, H, cfg_.rms_norm_eps);
  L.q.forward(q.data(), xn.data(), T, p);
  L.k.forward(k.data(), xn.data(), T, p);
  L.v.forward(v.data(), xn.data(), T, p);
  rope_apply(q.data(), qd, T, nh, hd, positions, inv_freq_.data());
  rope_apply(k.data(), kvd, T, nkv, hd, positions, inv_freq_.data());
  kv_store(kv, k.data(), kvd, v.data(), kvd, T, past);
  attention(att.data(), qd, q.data(), qd, T, past, nh, kv, 1.f / std::sqrt(float(hd)), /*causal=*/true);
  matmul(x, H, att.data(), qd, T, L.o.w, nullptr, p, /*accumulate=*/true);

  // MLP block: x += down(silu(gate(xn)) * up(xn)).
  rms_norm(xn.data(), x, L.mlp_norm.data(), T, H, cfg_.rms_norm_eps);
  std::vector<float> g(size_t(T * I)), u(size_t(T * I));
  L.gate.forward(g.data(), xn.data(), T, p);
  L.up.forward(u.data(), xn.data(), T, p);
  swiglu(g.data(), u.data(), T * I);
  matmul(x, H, g.data(), I, T, L.down.w, nullptr, p, /*accumulate=*/true);
}

void LlamaDecoder::run_layers(float* x, int64_t T, int l0, int l1, const int64_t* positions, KvCache& cache,
                              const ExecutionPlan& plan, Precision p, std::vector<float>* layer_outputs) const {
  const int64_t H = cfg_.hidden_size;
  if (cache.length() + T > cache.capacity())
    throw Error("sequence of " + std::to_string(cache.length() + T) + " tokens exceeds the KV cache capacity " +
                std::to_string(cache.capacity()));
  if (layer_outputs) layer_outputs->resize(size_t(cfg_.num_layers * T * H));
  for (int l = l0; l < l1; ++l) {
    if (plan.runs(l)) run_layer(layers_[size_t(l)], x, T, positions, cache.layer(l), cache.length(), p);
    if (layer_outputs) std::memcpy(layer_outputs->data() + size_t(l) * T * H, x, size_t(T * H) * 4);
  }
}

void LlamaDecoder::final_norm(float* out, const float* x, int64_t T) const {
  rms_norm(out, x, norm_.data(), T, cfg_.hidden_size, cfg_.rms_norm_eps);
}

void LlamaDecoder::lm_head(float* logits, const float* normed, int64_t T, Precision p) const {
  matmul(logits, cfg_.vocab_size, normed, cfg_.hidden_size, T, lm_head_, nullptr, p);
}

size_t LlamaDecoder::weight_bytes() const {
  auto bytes = [](const WeightView& w) { return size_t(w.rows * w.cols) * dtype_size(w.dtype); };
  size_t b = bytes(lm_head_);
  for (auto& L : layers_)
    for (const Linear* lin : {&L.q, &L.k, &L.v, &L.o, &L.gate, &L.up, &L.down}) b += bytes(lin->w);
  return b;
}

}  // namespace adallava
