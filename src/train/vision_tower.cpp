#include "train/vision_tower.h"

#include <cmath>

namespace adallava::train {

namespace {

template <class F>
F* sized(std::vector<F>& v, int64_t n) {
  v.assign(static_cast<size_t>(n), F(0));
  return v.data();
}

}  // namespace

template <class F>
void vision_forward(F* out, const F* pixels, const VisionParams<F>& w, const VisionShape& s, VisionActs<F>& a) {
  const int64_t C = s.hidden, I = s.intermediate, P = s.patch, S = s.image, G = s.grid(), N = s.tokens();
  const int64_t patch_len = 3 * P * P, hd = C / s.heads;
  // Patches in row-major grid order, each flattened (channel, ky, kx) like the conv weight.
  F* patches = sized(a.patches, (N - 1) * patch_len);
  for (int64_t gy = 0; gy < G; ++gy)
    for (int64_t gx = 0; gx < G; ++gx)
      for (int64_t c = 0; c < 3; ++c)
        for (int64_t ky = 0; ky < P; ++ky)
          for (int64_t kx = 0; kx < P; ++kx)
            patches[(gy * G + gx) * patch_len + (c * P + ky) * P + kx] = pixels[(c * S + gy * P + ky) * S + gx * P + kx];
  F* emb = sized(a.emb, N * C);
  for (int64_t i = 0; i < C; ++i) emb[i] = w.class_emb[i];
  linear_forward(emb + C, patches, w.patch, (const F*)nullptr, N - 1, patch_len, C);
  for (int64_t i = 0; i < N * C; ++i) emb[i] += w.pos_emb[i];
  std::vector<F> x(static_cast<size_t>(N * C));
  layer_norm_forward(x.data(), sized(a.pre_m, N), sized(a.pre_r, N), emb, w.pre_ln_w, w.pre_ln_b, N, C, F(s.ln_eps));

  a.layers.resize(static_cast<size_t>(s.layers));
  for (int l = 0; l < s.layers; ++l) {
    const VisionLayerParams<F>& L = w.layers[size_t(l)];
    auto& A = a.layers[size_t(l)];
    A.x = x;
    layer_norm_forward(sized(A.xn1, N * C), sized(A.m1, N), sized(A.r1, N), x.data(), L.ln1_w, L.ln1_b, N, C,
                       F(s.ln_eps));
    linear_forward(sized(A.q, N * C), A.xn1.data(), L.q, L.q_b, N, C, C);
    linear_forward(sized(A.k, N * C), A.xn1.data(), L.k, L.k_b, N, C, C);
    linear_forward(sized(A.v, N * C), A.xn1.data(), L.v, L.v_b, N, C, C);
    attention_forward(sized(A.att, N * C), sized(A.p, int64_t(s.heads) * N * N), A.q.data(), A.k.data(), A.v.data(),
                      N, s.heads, s.heads, int(hd), F(1) / std::sqrt(F(hd)), /*causal=*/false);
    std::vector<F> o(static_cast<size_t>(N * C));
    linear_forward(o.data(), A.att.data(), L.o, L.o_b, N, C, C);
    F* x2 = sized(A.x2, N * C);
    for (int64_t i = 0; i < N * C; ++i) x2[i] = x[size_t(i)] + o[size_t(i)];
    layer_norm_forward(sized(A.xn2, N * C), sized(A.m2, N), sized(A.r2, N), x2, L.ln2_w, L.ln2_b, N, C, F(s.ln_eps));
    linear_forward(sized(A.h, N * I), A.xn2.data(), L.fc1, L.fc1_b, N, C, I);
    act_forward(s.act, sized(A.ha, N * I), A.h.data(), N * I);
    linear_forward(o.data(), A.ha.data(), L.fc2, L.fc2_b, N, I, C);
    for (int64_t i = 0; i < N * C; ++i) x[size_t(i)] = x2[i] + o[size_t(i)];
  }
  for (int64_t i = 0; i < N * C; ++i) out[i] = x[size_t(i)];
}

template <class F>
void vision_backward(const F* dout, const VisionParams<F>& w, const VisionGrads<F>& g, const VisionShape& s,
                     const VisionActs<F>& a) {
  const int64_t C = s.hidden, I = s.intermediate, P = s.patch, N = s.tokens();
  const int64_t patch_len = 3 * P * P, hd = C / s.heads;
  std::vector<F> dx(dout, dout + N * C);
  for (int l = s.layers - 1; l >= 0; --l) {
    const VisionLayerParams<F>& L = w.layers[size_t(l)];
    const VisionLayerGrads<F>& D = g.layers[size_t(l)];
    const auto& A = a.layers[size_t(l)];
    // MLP block: x = x2 + fc2(act(fc1(ln2(x2)))).
    std::vector<F> dx2(dx), dha(static_cast<size_t>(N * I), F(0)), dh(static_cast<size_t>(N * I), F(0)),
        dxn(static_cast<size_t>(N * C), F(0));
    linear_backward(dha.data(), D.fc2, D.fc2_b, dx.data(), A.ha.data(), L.fc2, N, I, C);
    act_backward(s.act, dh.data(), dha.data(), A.h.data(), N * I);
    linear_backward(dxn.data(), D.fc1, D.fc1_b, dh.data(), A.xn2.data(), L.fc1, N, C, I);
    layer_norm_backward(dx2.data(), D.ln2_w, D.ln2_b, dxn.data(), A.x2.data(), L.ln2_w, A.m2.data(), A.r2.data(), N, C);
    // Attention block: x2 = x + o(attn(ln1(x))).
    std::vector<F> datt(static_cast<size_t>(N * C), F(0)), dq(datt), dk(datt), dv(datt);
    linear_backward(datt.data(), D.o, D.o_b, dx2.data(), A.att.data(), L.o, N, C, C);
    attention_backward(dq.data(), dk.data(), dv.data(), datt.data(), A.p.data(), A.q.data(), A.k.data(), A.v.data(), N,
                       s.heads, s.heads, int(hd), F(1) / std::sqrt(F(hd)));
    std::fill(dxn.begin(), dxn.end(), F(0));
    linear_backward(dxn.data(), D.q, D.q_b, dq.data(), A.xn1.data(), L.q, N, C, C);
    linear_backward(dxn.data(), D.k, D.k_b, dk.data(), A.xn1.data(), L.k, N, C, C);
    linear_backward(dxn.data(), D.v, D.v_b, dv.data(), A.xn1.data(), L.v, N, C, C);
    dx = dx2;
    layer_norm_backward(dx.data(), D.ln1_w, D.ln1_b, dxn.data(), A.x.data(), L.ln1_w, A.m1.data(), A.r1.data(), N, C);
  }
  std::vector<F> demb(static_cast<size_t>(N * C), F(0));
  layer_norm_backward(demb.data(), g.pre_ln_w, g.pre_ln_b, dx.data(), a.emb.data(), w.pre_ln_w, a.pre_m.data(),
                      a.pre_r.data(), N, C);
  if (g.pos_emb)
    for (int64_t i = 0; i < N * C; ++i) g.pos_emb[i] += demb[size_t(i)];
  if (g.class_emb)
    for (int64_t i = 0; i < C; ++i) g.class_emb[i] += demb[size_t(i)];
  linear_backward((F*)nullptr, g.patch, (F*)nullptr, demb.data() + C, a.patches.data(), w.patch, N - 1, patch_len, C);
}

template void vision_forward<float>(float*, const float*, const VisionParams<float>&, const VisionShape&,
                                    VisionActs<float>&);
template void vision_forward<double>(double*, const double*, const VisionParams<double>&, const VisionShape&,
                                     VisionActs<double>&);
template void vision_backward<float>(const float*, const VisionParams<float>&, const VisionGrads<float>&,
                                     const VisionShape&, const VisionActs<float>&);
template void vision_backward<double>(const double*, const VisionParams<double>&, const VisionGrads<double>&,
                                      const VisionShape&, const VisionActs<double>&);

}  // namespace adallava::train
