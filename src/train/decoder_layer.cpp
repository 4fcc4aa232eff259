#include "train/decoder_layer.h"

#include <cmath>

#include "kernels/ops.h"
#include "tensor/error.h"
#include "train/grad_ops.h"

namespace adallava::train {

const float* f32_data(const WeightView& w) {
  if (w.dtype != DType::F32 || w.row_stride != w.cols || w.col_stride != 1)
    throw Error("internal: training needs dense f32 weights");
  return static_cast<const float*>(w.data);
}

LayerPlan gated_plan(int n_heads, const float* head_gates, const float* group_gates) {
  LayerPlan lp;
  for (int h = 0; h < n_heads; ++h) lp.heads.push_back(h), lp.mlp_groups.push_back(h);
  lp.head_gates.assign(head_gates, head_gates + n_heads);
  lp.group_gates.assign(group_gates, group_gates + n_heads);
  return lp;
}

namespace {

// Gate of each MLP neuron (intermediate) and the group it belongs to.
void neuron_gates(const LayerPlan& lp, int64_t intermediate, int n_groups, std::vector<float>& gate,
                  std::vector<int>& group_of) {
  gate.resize(size_t(intermediate)), group_of.resize(size_t(intermediate));
  for (int g = 0; g < n_groups; ++g) {
    auto [b, e] = mlp_group_range(intermediate, n_groups, g);
    for (int64_t n = b; n < e; ++n) gate[size_t(n)] = lp.group_gates[size_t(g)], group_of[size_t(n)] = g;
  }
}

// MLP block: out = x2 + down(swiglu(gate(xn2), up(xn2)) ⊙ neuron gates), xn2 = RMSNorm(x2).
// dx2 (T, H) receives dout plus the block's gradient.
void mlp_block_backward(std::vector<float>& dx2, float* dgroup_gate, const float* dout, const LlamaLayer& L,
                        const LayerPlan& lp, const TextConfig& c, const LayerGrads& g, const LlamaLayerTrace& a,
                        int64_t T) {
  const int64_t H = c.hidden_size, I = c.intermediate_size;
  std::vector<float> ng;
  std::vector<int> group_of;
  neuron_gates(lp, I, c.num_heads, ng, group_of);
  std::vector<float> xn2(size_t(T * H)), r2(static_cast<size_t>(T)), gated(size_t(T * I));
  rms_norm(xn2.data(), a.x2.data(), L.mlp_norm.data(), T, H, c.rms_norm_eps);
  rms_norm_stats(r2.data(), a.x2.data(), T, H, float(c.rms_norm_eps));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t n = 0; n < I; ++n) gated[size_t(t * I + n)] = a.act[size_t(t * I + n)] * ng[size_t(n)];
  std::vector<float> dgated(size_t(T * I), 0.f), dact(size_t(T * I));
  linear_backward(dgated.data(), g.down, (float*)nullptr, dout, gated.data(), f32_data(L.down.w), T, I, H);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t n = 0; n < I; ++n) {
      const size_t i = size_t(t * I + n);
      dact[i] = dgated[i] * ng[size_t(n)];
      if (dgroup_gate) dgroup_gate[group_of[size_t(n)]] += dgated[i] * a.act[i];
    }
  std::vector<float> dg(size_t(T * I), 0.f), du(size_t(T * I), 0.f), dxn2(size_t(T * H), 0.f);
  swiglu_backward(dg.data(), du.data(), dact.data(), a.g.data(), a.u.data(), T * I);
  linear_backward(dxn2.data(), g.gate, (float*)nullptr, dg.data(), xn2.data(), f32_data(L.gate.w), T, H, I);
  linear_backward(dxn2.data(), g.up, (float*)nullptr, du.data(), xn2.data(), f32_data(L.up.w), T, H, I);
  dx2.assign(dout, dout + T * H);
  rms_norm_backward(dx2.data(), g.mlp_norm, dxn2.data(), a.x2.data(), L.mlp_norm.data(), r2.data(), T, H);
}

// Attention block: x2 = x + o(attention(rope(q), rope(k), v) ⊙ head gates) of xn1 = RMSNorm(x).
// dx (T, H) += the gradient in x, from dx2, the gradient in x2.
void attention_block_backward(float* dx, float* dhead_gate, const std::vector<float>& dx2, const LlamaDecoder& d,
                              const LlamaLayer& L, const LayerPlan& lp, const LayerGrads& g,
                              const LlamaLayerTrace& a, int64_t T, const int64_t* positions) {
  const TextConfig& c = d.config();
  const int64_t H = c.hidden_size, hd = c.head_dim, qd = c.num_heads * hd, kvd = c.num_kv_heads * hd;
  const float scale = 1.f / std::sqrt(float(hd));
  std::vector<float> gate(static_cast<size_t>(qd));  // per attention output column
  for (int64_t j = 0; j < qd; ++j) gate[size_t(j)] = lp.head_gates[size_t(j / hd)];
  std::vector<float> gated(a.att), dgated(size_t(T * qd), 0.f), datt(size_t(T * qd));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t j = 0; j < qd; ++j) gated[size_t(t * qd + j)] *= gate[size_t(j)];
  linear_backward(dgated.data(), g.o, (float*)nullptr, dx2.data(), gated.data(), f32_data(L.o.w), T, qd, H);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t j = 0; j < qd; ++j) {
      const size_t i = size_t(t * qd + j);
      datt[i] = dgated[i] * gate[size_t(j)];
      if (dhead_gate) dhead_gate[j / hd] += dgated[i] * a.att[i];
    }
  std::vector<float> dq(size_t(T * qd), 0.f), dk(size_t(T * kvd), 0.f), dv(size_t(T * kvd), 0.f);
  attention_backward(dq.data(), dk.data(), dv.data(), datt.data(), a.probs.data(), a.q.data(), a.k.data(), a.v.data(), T,
                     c.num_heads, c.num_kv_heads, int(hd), scale);
  rope(dq.data(), qd, T, c.num_heads, int(hd), positions, d.inv_freq(), true);
  rope(dk.data(), kvd, T, c.num_kv_heads, int(hd), positions, d.inv_freq(), true);
  std::vector<float> xn1(size_t(T * H)), r1(static_cast<size_t>(T)), dxn1(size_t(T * H), 0.f);
  rms_norm(xn1.data(), a.x.data(), L.attn_norm.data(), T, H, c.rms_norm_eps);
  rms_norm_stats(r1.data(), a.x.data(), T, H, float(c.rms_norm_eps));
  linear_backward(dxn1.data(), g.q, (float*)nullptr, dq.data(), xn1.data(), f32_data(L.q.w), T, H, qd);
  linear_backward(dxn1.data(), g.k, (float*)nullptr, dk.data(), xn1.data(), f32_data(L.k.w), T, H, kvd);
  linear_backward(dxn1.data(), g.v, (float*)nullptr, dv.data(), xn1.data(), f32_data(L.v.w), T, H, kvd);
  std::vector<float> dxin(dx2);
  rms_norm_backward(dxin.data(), g.attn_norm, dxn1.data(), a.x.data(), L.attn_norm.data(), r1.data(), T, H);
  for (int64_t i = 0; i < T * H; ++i) dx[i] += dxin[size_t(i)];
}

}  // namespace

void layer_backward(float* dx, float* dhead_gate, float* dgroup_gate, const float* dout, const LlamaDecoder& d, int l,
                    const LayerPlan& lp, const LayerGrads& g, const LlamaLayerTrace& trace,
                    const int64_t* positions) {
  const TextConfig& c = d.config();
  const size_t n = size_t(c.num_heads);
  if (lp.heads.size() != n || lp.mlp_groups.size() != n || lp.head_gates.size() != n || lp.group_gates.size() != n)
    throw Error("internal: a layer's backward needs the masked form (every head and group, with gates)");
  const int64_t T = int64_t(trace.x.size()) / c.hidden_size;
  const LlamaLayer& L = d.layer(l);
  std::vector<float> dx2;
  mlp_block_backward(dx2, dgroup_gate, dout, L, lp, c, g, trace, T);
  attention_block_backward(dx, dhead_gate, dx2, d, L, lp, g, trace, T, positions);
}

}  // namespace adallava::train
