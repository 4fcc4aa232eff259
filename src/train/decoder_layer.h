// One LLaMA decoder layer for training, in the masked form of the AdaLLaVA spec §5: every head
// and neuron is computed, each head's attention output is multiplied by its gate and each MLP
// neuron by its group's gate, so gradients reach the gates (and through them the scheduler).
// Forward saves what the backward needs; templated on the scalar like grad_ops.
#pragma once
#include <cstdint>
#include <vector>

namespace adallava::train {

struct LayerShape {
  int64_t T = 0, hidden = 0, intermediate = 0;
  int n_heads = 0, n_kv_heads = 0, head_dim = 0;
  double rms_eps = 1e-6;
  const float* inv_freq = nullptr;     // RoPE (head_dim / 2)
  const int64_t* positions = nullptr;  // T
};

template <class F>
struct LayerParams {  // PyTorch layouts: [out, in]
  const F *attn_norm, *mlp_norm, *q, *k, *v, *o, *gate, *up, *down;
};

template <class F>
struct LayerGrads {  // accumulated into; any may be null when not trained
  F *attn_norm, *mlp_norm, *q, *k, *v, *o, *gate, *up, *down;
};

template <class F>
struct LayerActs {
  std::vector<F> x, xn1, r1, q, k, v, p, att, x2, xn2, r2, g, u, a;
};

// out (T, hidden) = the layer on x with head gates (n_heads) and MLP group gates (n_heads groups
// over the intermediate dim, the first intermediate % n_heads one neuron larger).
template <class F>
void layer_forward(F* out, const F* x, const LayerParams<F>& w, const F* head_gate, const F* group_gate,
                   const LayerShape& s, LayerActs<F>& acts);

// dx (T, hidden) += ∂/∂x; gate gradients (n_heads each) += ∂/∂gate; weights into g. The
// gates are the ones the forward used.
template <class F>
void layer_backward(F* dx, F* dhead_gate, F* dgroup_gate, const F* dout, const LayerParams<F>& w,
                    const LayerGrads<F>& g, const F* head_gate, const F* group_gate, const LayerShape& s,
                    const LayerActs<F>& acts);

}  // namespace adallava::train
