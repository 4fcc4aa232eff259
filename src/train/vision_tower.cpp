#include "train/vision_tower.h"

#include <cmath>

#include "kernels/ops.h"
#include "train/decoder_layer.h"
#include "train/grad_ops.h"

namespace adallava::train {

namespace {

// A LayerNorm's backward, its statistics recomputed from the input x.
void layer_norm_grads(float* dx, float* dw, float* db, const float* dxn, const float* x, const std::vector<float>& w,
                      int64_t N, int64_t C, float eps) {
  std::vector<float> mean(static_cast<size_t>(N)), r(static_cast<size_t>(N));
  layer_norm_stats(mean.data(), r.data(), x, N, C, eps);
  layer_norm_backward(dx, dw, db, dxn, x, w.data(), mean.data(), r.data(), N, C);
}

// One encoder block: x_out = x2 + fc2(act(fc1(ln2(x2)))), x2 = x + o(attn(ln1(x))). dx (N, C)
// holds d/dx_out on entry and d/dx on return.
void block_backward(std::vector<float>& dx, const ClipLayer& L, const VisionConfig& c, const VisionLayerGrads& D,
                    const ClipTrace::Layer& A, int64_t N) {
  const int64_t C = c.hidden_size, I = c.intermediate_size, hd = C / c.num_heads;
  const float eps = float(c.layer_norm_eps);
  const Act act = act_named(c.hidden_act);
  std::vector<float> xn(size_t(N * C));
  layer_norm(xn.data(), A.x2.data(), L.ln2_w.data(), L.ln2_b.data(), N, C, c.layer_norm_eps);
  std::vector<float> dx2(dx), dha(size_t(N * I), 0.f), dh(size_t(N * I), 0.f), dxn(size_t(N * C), 0.f);
  linear_backward(dha.data(), D.fc2, D.fc2_b, dx.data(), A.act.data(), f32_data(L.fc2.w), N, I, C);
  act_backward(act, dh.data(), dha.data(), A.h.data(), N * I);
  linear_backward(dxn.data(), D.fc1, D.fc1_b, dh.data(), xn.data(), f32_data(L.fc1.w), N, C, I);
  layer_norm_grads(dx2.data(), D.ln2_w, D.ln2_b, dxn.data(), A.x2.data(), L.ln2_w, N, C, eps);

  const float scale = 1.f / std::sqrt(float(hd));
  std::vector<float> datt(size_t(N * C), 0.f), dq(datt), dk(datt), dv(datt);
  linear_backward(datt.data(), D.o, D.o_b, dx2.data(), A.att.data(), f32_data(L.out.w), N, C, C);
  attention_backward(dq.data(), dk.data(), dv.data(), datt.data(), A.probs.data(), A.q.data(), A.k.data(), A.v.data(), N,
                     c.num_heads, c.num_heads, int(hd), scale);
  layer_norm(xn.data(), A.x.data(), L.ln1_w.data(), L.ln1_b.data(), N, C, c.layer_norm_eps);
  std::fill(dxn.begin(), dxn.end(), 0.f);
  linear_backward(dxn.data(), D.q, D.q_b, dq.data(), xn.data(), f32_data(L.q.w), N, C, C);
  linear_backward(dxn.data(), D.k, D.k_b, dk.data(), xn.data(), f32_data(L.k.w), N, C, C);
  linear_backward(dxn.data(), D.v, D.v_b, dv.data(), xn.data(), f32_data(L.v.w), N, C, C);
  dx = dx2;
  layer_norm_grads(dx.data(), D.ln1_w, D.ln1_b, dxn.data(), A.x.data(), L.ln1_w, N, C, eps);
}

}  // namespace

void vision_backward(const float* dout, const ClipVisionTower& tower, const VisionGrads& g, const ClipTrace& a) {
  const VisionConfig& c = tower.config();
  const int64_t C = c.hidden_size, P = c.patch_size, N = tower.tokens(), patch_len = 3 * P * P;
  std::vector<float> dx(dout, dout + N * C);
  for (int l = tower.feature_index() - 1; l >= 0; --l)
    block_backward(dx, tower.layer(l), c, g.layers[size_t(l)], a.layers[size_t(l)], N);
  std::vector<float> demb(size_t(N * C), 0.f);
  layer_norm_grads(demb.data(), g.pre_ln_w, g.pre_ln_b, dx.data(), a.emb.data(), tower.pre_norm_weight(), N, C,
                   float(c.layer_norm_eps));
  if (g.pos_emb)
    for (int64_t i = 0; i < N * C; ++i) g.pos_emb[i] += demb[size_t(i)];
  if (g.class_emb)
    for (int64_t i = 0; i < C; ++i) g.class_emb[i] += demb[size_t(i)];
  linear_backward((float*)nullptr, g.patch, (float*)nullptr, demb.data() + C, a.patches.data(),
                  f32_data(tower.patch_weight()), N - 1, patch_len, C);
}

}  // namespace adallava::train
