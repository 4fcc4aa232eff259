#include "train/decoder_layer.h"

#include <cmath>

#include "model/execution_plan.h"
#include "train/grad_ops.h"

namespace adallava::train {

namespace {

// Group gate of each neuron (intermediate).
template <class F>
std::vector<F> neuron_gates(const F* group_gate, int64_t intermediate, int n_groups) {
  std::vector<F> gate(static_cast<size_t>(intermediate));
  for (int g = 0; g < n_groups; ++g) {
    auto [b, e] = mlp_group_range(intermediate, n_groups, g);
    for (int64_t n = b; n < e; ++n) gate[size_t(n)] = group_gate[g];
  }
  return gate;
}

}  // namespace

template <class F>
void layer_forward(F* out, const F* x, const LayerParams<F>& w, const F* head_gate, const F* group_gate,
                   const LayerShape& s, LayerActs<F>& a) {
  const int64_t T = s.T, H = s.hidden, I = s.intermediate, hd = s.head_dim;
  const int64_t qd = s.n_heads * hd, kvd = s.n_kv_heads * hd;
  auto sized = [](std::vector<F>& v, int64_t n) -> F* {
    v.assign(static_cast<size_t>(n), F(0));
    return v.data();
  };
  a.x.assign(x, x + T * H);
  // Attention block.
  rms_norm_forward(sized(a.xn1, T * H), sized(a.r1, T), x, w.attn_norm, T, H, F(s.rms_eps));
  linear_forward(sized(a.q, T * qd), a.xn1.data(), w.q, (const F*)nullptr, T, H, qd);
  linear_forward(sized(a.k, T * kvd), a.xn1.data(), w.k, (const F*)nullptr, T, H, kvd);
  linear_forward(sized(a.v, T * kvd), a.xn1.data(), w.v, (const F*)nullptr, T, H, kvd);
  rope(a.q.data(), qd, T, s.n_heads, int(hd), s.positions, s.inv_freq, false);
  rope(a.k.data(), kvd, T, s.n_kv_heads, int(hd), s.positions, s.inv_freq, false);
  attention_forward(sized(a.att, T * qd), sized(a.p, int64_t(s.n_heads) * T * T), a.q.data(), a.k.data(), a.v.data(), T,
                    s.n_heads, s.n_kv_heads, int(hd), F(1) / std::sqrt(F(hd)), true);
  std::vector<F> gated(a.att);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t j = 0; j < qd; ++j) gated[size_t(t * qd + j)] *= head_gate[j / hd];
  std::vector<F> o(static_cast<size_t>(T * H));
  linear_forward(o.data(), gated.data(), w.o, (const F*)nullptr, T, qd, H);
  F* x2 = sized(a.x2, T * H);
  for (int64_t i = 0; i < T * H; ++i) x2[i] = x[i] + o[size_t(i)];
  // MLP block.
  rms_norm_forward(sized(a.xn2, T * H), sized(a.r2, T), x2, w.mlp_norm, T, H, F(s.rms_eps));
  linear_forward(sized(a.g, T * I), a.xn2.data(), w.gate, (const F*)nullptr, T, H, I);
  linear_forward(sized(a.u, T * I), a.xn2.data(), w.up, (const F*)nullptr, T, H, I);
  swiglu_forward(sized(a.a, T * I), a.g.data(), a.u.data(), T * I);
  const std::vector<F> ng = neuron_gates(group_gate, I, s.n_heads);
  std::vector<F> ag(a.a);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t n = 0; n < I; ++n) ag[size_t(t * I + n)] *= ng[size_t(n)];
  linear_forward(out, ag.data(), w.down, (const F*)nullptr, T, I, H);
  for (int64_t i = 0; i < T * H; ++i) out[i] += x2[i];
}

template <class F>
void layer_backward(F* dx, F* dhead_gate, F* dgroup_gate, const F* dout, const LayerParams<F>& w,
                    const LayerGrads<F>& g, const F* head_gate, const F* group_gate, const LayerShape& s,
                    const LayerActs<F>& a) {
  const int64_t T = s.T, H = s.hidden, I = s.intermediate, hd = s.head_dim;
  const int64_t qd = s.n_heads * hd, kvd = s.n_kv_heads * hd;
  const std::vector<F> ng = neuron_gates(group_gate, I, s.n_heads);

  // MLP block: out = x2 + down(a ⊙ gate), a = swiglu(gate_proj(xn2), up_proj(xn2)).
  std::vector<F> dx2(dout, dout + T * H), ag(a.a), dag(static_cast<size_t>(T * I), F(0));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t n = 0; n < I; ++n) ag[size_t(t * I + n)] *= ng[size_t(n)];
  linear_backward(dag.data(), g.down, (F*)nullptr, dout, ag.data(), w.down, T, I, H);
  std::vector<int> group_of(static_cast<size_t>(I));
  for (int grp = 0; grp < s.n_heads; ++grp) {
    auto [b, e] = mlp_group_range(I, s.n_heads, grp);
    for (int64_t n = b; n < e; ++n) group_of[size_t(n)] = grp;
  }
  std::vector<F> da(static_cast<size_t>(T * I));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t n = 0; n < I; ++n) {
      const size_t i = size_t(t * I + n);
      da[i] = dag[i] * ng[size_t(n)];
      if (dgroup_gate) dgroup_gate[group_of[size_t(n)]] += dag[i] * a.a[i];
    }
  std::vector<F> dg(static_cast<size_t>(T * I), F(0)), du(static_cast<size_t>(T * I), F(0));
  swiglu_backward(dg.data(), du.data(), da.data(), a.g.data(), a.u.data(), T * I);
  std::vector<F> dxn2(static_cast<size_t>(T * H), F(0));
  linear_backward(dxn2.data(), g.gate, (F*)nullptr, dg.data(), a.xn2.data(), w.gate, T, H, I);
  linear_backward(dxn2.data(), g.up, (F*)nullptr, du.data(), a.xn2.data(), w.up, T, H, I);
  rms_norm_backward(dx2.data(), g.mlp_norm, dxn2.data(), a.x2.data(), w.mlp_norm, a.r2.data(), T, H);

  // Attention block: x2 = x + o(att ⊙ head gate).
  std::vector<F> gated(a.att), dgated(static_cast<size_t>(T * qd), F(0));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t j = 0; j < qd; ++j) gated[size_t(t * qd + j)] *= head_gate[j / hd];
  linear_backward(dgated.data(), g.o, (F*)nullptr, dx2.data(), gated.data(), w.o, T, qd, H);
  std::vector<F> datt(static_cast<size_t>(T * qd));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t j = 0; j < qd; ++j) {
      const size_t i = size_t(t * qd + j);
      datt[i] = dgated[i] * head_gate[j / hd];
      if (dhead_gate) dhead_gate[j / hd] += dgated[i] * a.att[i];
    }
  std::vector<F> dq(static_cast<size_t>(T * qd), F(0)), dk(static_cast<size_t>(T * kvd), F(0)),
      dv(static_cast<size_t>(T * kvd), F(0));
  attention_backward(dq.data(), dk.data(), dv.data(), datt.data(), a.p.data(), a.q.data(), a.k.data(), a.v.data(), T,
                     s.n_heads, s.n_kv_heads, int(hd), F(1) / std::sqrt(F(hd)));
  rope(dq.data(), qd, T, s.n_heads, int(hd), s.positions, s.inv_freq, true);
  rope(dk.data(), kvd, T, s.n_kv_heads, int(hd), s.positions, s.inv_freq, true);
  std::vector<F> dxn1(static_cast<size_t>(T * H), F(0));
  linear_backward(dxn1.data(), g.q, (F*)nullptr, dq.data(), a.xn1.data(), w.q, T, H, qd);
  linear_backward(dxn1.data(), g.k, (F*)nullptr, dk.data(), a.xn1.data(), w.k, T, H, kvd);
  linear_backward(dxn1.data(), g.v, (F*)nullptr, dv.data(), a.xn1.data(), w.v, T, H, kvd);
  rms_norm_backward(dx2.data(), g.attn_norm, dxn1.data(), a.x.data(), w.attn_norm, a.r1.data(), T, H);
  for (int64_t i = 0; i < T * H; ++i) dx[i] += dx2[size_t(i)];
}

template void layer_forward<float>(float*, const float*, const LayerParams<float>&, const float*, const float*,
                                   const LayerShape&, LayerActs<float>&);
template void layer_forward<double>(double*, const double*, const LayerParams<double>&, const double*, const double*,
                                    const LayerShape&, LayerActs<double>&);
template void layer_backward<float>(float*, float*, float*, const float*, const LayerParams<float>&,
                                    const LayerGrads<float>&, const float*, const float*, const LayerShape&,
                                    const LayerActs<float>&);
template void layer_backward<double>(double*, double*, double*, const double*, const LayerParams<double>&,
                                     const LayerGrads<double>&, const double*, const double*, const LayerShape&,
                                     const LayerActs<double>&);

}  // namespace adallava::train
