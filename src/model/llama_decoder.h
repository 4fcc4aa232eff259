// The LLaMA decoder: token embeddings, pre-norm blocks (RMSNorm, RoPE attention with grouped KV
// heads, SwiGLU MLP), final norm and lm_head. Weights are views into the checkpoint.
#pragma once
#include <string>
#include <vector>

#include "io/hf_config.h"
#include "io/safetensors.h"
#include "model/execution_plan.h"
#include "model/kv_cache.h"
#include "model/weights.h"

namespace adallava {

struct LlamaLayer {
  std::vector<float> attn_norm, mlp_norm;
  Linear q, k, v, o, gate, up, down;
};

// What a layer's backward needs from its forward (training). The normed inputs are not kept:
// the backward recomputes them from x and x2.
struct LlamaLayerTrace {
  std::vector<float> x;        // the input (T, H)
  std::vector<float> q, k, v;  // after RoPE: (T, heads·hd), (T, kv heads·hd)
  std::vector<float> probs;    // attention probabilities (heads, T, T)
  std::vector<float> att;      // attention output before the head gates (T, heads·hd)
  std::vector<float> x2;       // the residual stream after the attention block (T, H)
  std::vector<float> g, u;     // gate and up projections before SwiGLU (T, neurons)
  std::vector<float> act;      // SwiGLU's output before the group gates (T, neurons)
};

class LlamaDecoder {
 public:
  // prefix: where "embed_tokens", "layers.N", "norm" live ("model." or "language_model.model.");
  // lm_head: the full name of the output projection.
  static LlamaDecoder load(const TensorStore& store, const TextConfig& cfg, const std::string& prefix,
                           const std::string& lm_head);

  const TextConfig& config() const { return cfg_; }
  const LlamaLayer& layer(int l) const { return layers_[size_t(l)]; }
  const WeightView& embed_weight() const { return embed_; }
  const WeightView& lm_head_weight() const { return lm_head_; }
  const std::vector<float>& final_norm_weight() const { return norm_; }
  const float* inv_freq() const { return inv_freq_.data(); }
  int hidden() const { return cfg_.hidden_size; }
  int vocab() const { return cfg_.vocab_size; }

  // out (T, H) = embedding rows of ids; ids must be in [0, vocab).
  void embed(float* out, const int64_t* ids, int64_t T) const;

  // Runs layers [l0, l1) on x (T, H) in place, for new tokens at `positions`, which follow the
  // `cache.length()` rows already cached. Only what the plan runs is computed: skipped layers
  // not at all, partial layers over their active heads and neuron groups (weights are read in
  // place, never copied). The cache must be allocated for the same plan. Does not advance the
  // cache length (the caller does, once all layers ran).
  // layer_outputs, if given, receives each layer's output (n_layers, T, H) (skipped = input).
  void run_layers(float* x, int64_t T, int l0, int l1, const int64_t* positions, KvCache& cache,
                  const ExecutionPlan& plan, Precision p, std::vector<float>* layer_outputs = nullptr) const;

  // Layer l over a whole sequence with no cache (training, plan search): x (T, H) in place.
  // trace, if given, receives what the layer's backward needs.
  void forward_layer(int l, const LayerPlan& lp, float* x, int64_t T, const int64_t* positions, Precision p,
                     LlamaLayerTrace* trace = nullptr) const;

  // The attention probabilities of one query row over the first n_keys rows cached in layer l,
  // averaged over the heads: x is the row's input to layer l, at `position`. FastV ranks image
  // rows by this. Layer l must have run with all its heads.
  std::vector<float> attention_probs(int l, const float* x, int64_t position, KvCache& cache, int64_t n_keys,
                                     Precision p) const;

  // out (T, H) = RMSNorm(x) with the final gain.
  void final_norm(float* out, const float* x, int64_t T) const;
  // logits (T, vocab) = normed (T, H) · lm_headᵀ
  void lm_head(float* logits, const float* normed, int64_t T, Precision p) const;

  // Weight bytes read per decoded token: every matrix the plan runs, once (all by default).
  size_t weight_bytes(const ExecutionPlan* plan = nullptr) const;
  // Share of the decoder layers' matrix work per token that the plan runs, in [0, 1] (the
  // attention-score part, which grows with the context, is left out; so are embeddings and lm_head).
  double executed_fraction(const ExecutionPlan& plan) const;
  // FLOPs of a prefill of `rows` rows under the plan: the matrices of what runs, the causal
  // attention's scores and sums, and lm_head on the last row. Layers from `cut` on see only
  // `kept` of the rows (FastV; cut = num_layers without it).
  double prefill_flops(const ExecutionPlan& plan, int64_t rows, int64_t kept, int cut) const;
  // Weights (multiply-adds per token) of one layer's matrices under a layer plan.
  double layer_weights(const LayerPlan& lp) const;
  // Throws when the model cannot run this layer plan (partial heads need one KV head per head).
  void check_plan(int l, const LayerPlan& lp) const;

 private:
  void run_layer(const LlamaLayer& L, const LayerPlan& lp, float* x, int64_t T, const int64_t* positions, KvView kv,
                 int64_t past, Precision p, LlamaLayerTrace* trace) const;
  void attention_block(const LlamaLayer& L, const LayerPlan& lp, float* x, int64_t T, const int64_t* positions,
                       KvView kv, int64_t past, Precision p, LlamaLayerTrace* trace) const;
  void mlp_block(const LlamaLayer& L, const LayerPlan& lp, float* x, int64_t T, Precision p,
                 LlamaLayerTrace* trace) const;

  TextConfig cfg_;
  WeightView embed_, lm_head_;
  std::vector<LlamaLayer> layers_;
  std::vector<float> norm_;
  std::vector<float> inv_freq_;
};

}  // namespace adallava
