// Forward and backward passes of the operations training needs, side by side (the llm.c way:
// saved activations and an explicit backward per operation, no autograd graph). Templated on
// the scalar so that the same code is checked against finite differences in double precision
// (tests/train/grad_ops_test) and runs in float for training.
//
// Conventions: row-major, T rows of width C. Every backward ADDS into its gradients (dx, dw...),
// so a tensor used twice (the residual stream) collects both contributions; callers zero them.
#pragma once
#include <cstdint>
#include <string>

namespace adallava::train {

// y = x · Wᵀ + b   x (T, K), W (N, K), b (N) or null, y (T, N)
template <class F>
void linear_forward(F* y, const F* x, const F* w, const F* b, int64_t T, int64_t K, int64_t N);
// dx (T, K) += dy · W;  dw (N, K) += dyᵀ · x;  db (N) += Σ_t dy   (dx, dw or db may be null)
template <class F>
void linear_backward(F* dx, F* dw, F* db, const F* dy, const F* x, const F* w, int64_t T, int64_t K, int64_t N);

// out = x · r · w, r = 1/sqrt(mean(x²) + eps) per row; saves r (T). rms_norm_stats gives r alone
// (the backward of the inference norm recomputes it).
template <class F>
void rms_norm_stats(F* r, const F* x, int64_t T, int64_t C, F eps);
template <class F>
void rms_norm_forward(F* out, F* r, const F* x, const F* w, int64_t T, int64_t C, F eps);
template <class F>
void rms_norm_backward(F* dx, F* dw, const F* dout, const F* x, const F* w, const F* r, int64_t T, int64_t C);

// out = (x − mean) · r · w + b, r = 1/sqrt(var + eps); saves mean and r (T each).
template <class F>
void layer_norm_stats(F* mean, F* r, const F* x, int64_t T, int64_t C, F eps);
template <class F>
void layer_norm_forward(F* out, F* mean, F* r, const F* x, const F* w, const F* b, int64_t T, int64_t C, F eps);
template <class F>
void layer_norm_backward(F* dx, F* dw, F* db, const F* dout, const F* x, const F* w, const F* mean, const F* r,
                         int64_t T, int64_t C);

enum class Act { Silu, GeluErf, QuickGelu };
// The activation of a config's hidden_act name (silu, gelu, quick_gelu); throws for the others.
Act act_named(const std::string& name);
// out = act(x) elementwise (n); backward from the input x.
template <class F>
void act_forward(Act a, F* out, const F* x, int64_t n);
template <class F>
void act_backward(Act a, F* dx, const F* dout, const F* x, int64_t n);

// out = silu(g) · u (n);  dg += dout · u · silu'(g),  du += dout · silu(g)
template <class F>
void swiglu_forward(F* out, const F* g, const F* u, int64_t n);
template <class F>
void swiglu_backward(F* dg, F* du, const F* dout, const F* g, const F* u, int64_t n);

// HF half-split rotary embedding on n_heads heads of head_dim in T rows (row stride ld), in place.
// Backward is the inverse rotation (the rotation is orthogonal): rope_apply(..., inverse = true).
template <class F>
void rope(F* x, int64_t ld, int64_t T, int n_heads, int head_dim, const int64_t* positions, const float* inv_freq,
          bool inverse);

// Scaled dot-product attention, causal or bidirectional, grouped KV heads (head h reads KV head
// h / (n_heads / n_kv)). q, out (T, n_heads·hd); k, v (T, n_kv·hd). Saves the probabilities
// p (n_heads, T, T) for the backward; attention_probs computes p alone.
template <class F>
void attention_probs(F* p, const F* q, const F* k, int64_t T, int n_heads, int n_kv, int hd, F scale, bool causal);
template <class F>
void attention_forward(F* out, F* p, const F* q, const F* k, const F* v, int64_t T, int n_heads, int n_kv, int hd,
                       F scale, bool causal);
template <class F>
void attention_backward(F* dq, F* dk, F* dv, const F* dout, const F* p, const F* q, const F* k, const F* v, int64_t T,
                        int n_heads, int n_kv, int hd, F scale);

// Mean cross-entropy of logits (T, V) against targets (T); rows whose target is ignore_index
// do not count. Returns the loss; dlogits (T, V) += its gradient (× dloss). Rows counted: *n.
template <class F>
F cross_entropy(F* dlogits, const F* logits, const int64_t* targets, int64_t T, int64_t V, int64_t ignore_index,
                F dloss, int64_t* n = nullptr);

// out (T, C) = rows ids of the table (·, C);  dtable[ids[t]] += dout[t]
template <class F>
void embedding_forward(F* out, const F* table, const int64_t* ids, int64_t T, int64_t C);
template <class F>
void embedding_backward(F* dtable, const F* dout, const int64_t* ids, int64_t T, int64_t C);

}  // namespace adallava::train
