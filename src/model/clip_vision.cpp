#include "model/clip_vision.h"

#include <cmath>
#include <cstring>

#include "kernels/attention.h"
#include "kernels/ops.h"
#include "model/tensor_names.h"

namespace adallava {

ClipVisionTower ClipVisionTower::load(const TensorStore& store, const VisionConfig& cfg, const std::string& prefix,
                                      int feature_index) {
  ClipVisionTower t;
  t.cfg_ = cfg;
  t.feature_index_ = feature_index;
  const int64_t C = cfg.hidden_size, P = cfg.patch_size, I = cfg.intermediate_size, N = t.tokens();
  t.patch_ = load_matrix_as(store, prefix + names::kPatch, {C, 3, P, P}, C, 3 * P * P);
  t.class_emb_ = load_vector(store, prefix + names::kClass, C);
  const TensorRecord& pos = store.get(prefix + names::kPositions, {N, C});
  t.pos_emb_.resize(size_t(N * C));
  to_f32(pos.dtype, pos.data, t.pos_emb_.data(), t.pos_emb_.size());
  const std::string pre = prefix + names::kPreNorm;
  t.pre_ln_w_ = load_vector(store, pre + ".weight", C);
  t.pre_ln_b_ = load_vector(store, pre + ".bias", C);
  for (int l = 0; l < feature_index; ++l) {
    const std::string p = names::vision_layer(prefix, l);
    ClipLayer L;
    L.ln1_w = load_vector(store, p + names::kNorm1 + ".weight", C);
    L.ln1_b = load_vector(store, p + names::kNorm1 + ".bias", C);
    L.ln2_w = load_vector(store, p + names::kNorm2 + ".weight", C);
    L.ln2_b = load_vector(store, p + names::kNorm2 + ".bias", C);
    L.q = load_linear(store, p + names::kVisionQ, C, C, true);
    L.k = load_linear(store, p + names::kVisionK, C, C, true);
    L.v = load_linear(store, p + names::kVisionV, C, C, true);
    L.out = load_linear(store, p + names::kVisionOut, C, C, true);
    L.fc1 = load_linear(store, p + names::kFc1, I, C, true);
    L.fc2 = load_linear(store, p + names::kFc2, C, I, true);
    t.layers_.push_back(std::move(L));
  }
  const std::string last = names::vision_layer(prefix, cfg.num_layers - 1);
  if (feature_index == cfg.num_layers) {  // the last layer runs anyway
    const ClipLayer& L = t.layers_.back();
    t.selection_ = SelectionLayer{L.ln1_w, L.ln1_b, L.q, L.k};
  } else if (feature_index == cfg.num_layers - 1 && store.has(last + names::kVisionQ + ".weight")) {
    SelectionLayer s;
    s.ln_w = load_vector(store, last + names::kNorm1 + ".weight", C);
    s.ln_b = load_vector(store, last + names::kNorm1 + ".bias", C);
    s.q = load_linear(store, last + names::kVisionQ, C, C, true);
    s.k = load_linear(store, last + names::kVisionK, C, C, true);
    t.selection_ = std::move(s);
  }
  return t;
}

std::vector<float> ClipVisionTower::encode(const float* pixels, Precision p, std::vector<float>* all_states,
                                           ClipTrace* trace, std::vector<float>* last_input) const {
  const int64_t C = cfg_.hidden_size, P = cfg_.patch_size, S = cfg_.image_size, G = cfg_.grid();
  const int64_t N = tokens(), I = cfg_.intermediate_size, nh = cfg_.num_heads, hd = C / nh;
  const int64_t patch_len = 3 * P * P;

  // Patches in row-major grid order, each flattened (channel, ky, kx) like the conv weight.
  std::vector<float> patches(size_t((N - 1) * patch_len));
  for (int64_t gy = 0; gy < G; ++gy)
    for (int64_t gx = 0; gx < G; ++gx) {
      float* dst = patches.data() + (gy * G + gx) * patch_len;
      for (int64_t c = 0; c < 3; ++c)
        for (int64_t ky = 0; ky < P; ++ky)
          std::memcpy(dst + (c * P + ky) * P, pixels + (c * S + gy * P + ky) * S + gx * P, size_t(P) * 4);
    }
  std::vector<float> emb(size_t(N * C)), x(size_t(N * C));
  std::memcpy(emb.data(), class_emb_.data(), size_t(C) * 4);
  matmul(emb.data() + C, C, patches.data(), patch_len, N - 1, patch_, nullptr, p);
  add_inplace(emb.data(), pos_emb_.data(), N * C);
  if (trace) trace->patches = std::move(patches), trace->emb = emb, trace->layers.clear();
  layer_norm(x.data(), emb.data(), pre_ln_w_.data(), pre_ln_b_.data(), N, C, cfg_.layer_norm_eps);
  if (all_states) all_states->assign(x.begin(), x.end());

  // The layers' buffers, kept by the thread between images (tens of MB that fresh vectors would
  // take from the kernel as zeroed pages every time); every element is written before it is read.
  thread_local std::vector<float> xn, q, k, v, att, h;
  thread_local std::vector<uint8_t> kh, vh;
  for (auto* b : {&xn, &q, &k, &v, &att}) b->resize(size_t(N * C));
  h.resize(size_t(N * I));
  // Under bf16 products K/V are kept in bf16, which attention's tile products read in place.
  const DType kv_type = p == Precision::BF16 ? DType::BF16 : DType::F32;
  kh.resize(size_t(N * C) * dtype_size(kv_type));
  vh.resize(kh.size());
  for (const ClipLayer& L : layers_) {
    if (last_input && &L - layers_.data() == cfg_.num_layers - 1) *last_input = x;
    ClipTrace::Layer* tr = trace ? &trace->layers.emplace_back() : nullptr;
    if (tr) tr->x = x;
    layer_norm(xn.data(), x.data(), L.ln1_w.data(), L.ln1_b.data(), N, C, cfg_.layer_norm_eps);
    L.q.forward(q.data(), xn.data(), N, p);
    L.k.forward(k.data(), xn.data(), N, p);
    L.v.forward(v.data(), xn.data(), N, p);
    // Bidirectional attention: the "cache" is just this image's K/V, head-major.
    KvView kv{kh.data(), vh.data(), N, int(hd), int(nh), kv_type};
    kv_store(kv, k.data(), C, v.data(), C, N, 0);
    if (tr) tr->probs.resize(size_t(nh * N * N));
    attention(att.data(), C, q.data(), C, N, 0, int(nh), kv, 1.f / std::sqrt(float(hd)), /*causal=*/false,
              tr ? tr->probs.data() : nullptr, p == Precision::BF16 ? Precision::BF16 : Precision::F32);
    matmul(x.data(), C, att.data(), C, N, L.out.w, L.out.bias(), p, /*accumulate=*/true);
    if (tr) tr->q = q, tr->k = k, tr->v = v, tr->att = att, tr->x2 = x;

    layer_norm(xn.data(), x.data(), L.ln2_w.data(), L.ln2_b.data(), N, C, cfg_.layer_norm_eps);
    L.fc1.forward(h.data(), xn.data(), N, p);
    if (tr) tr->h = h;
    activation(cfg_.hidden_act.c_str(), h.data(), N * I);
    if (tr) tr->act = h;
    matmul(x.data(), C, h.data(), I, N, L.fc2.w, L.fc2.bias(), p, /*accumulate=*/true);
    if (all_states) all_states->insert(all_states->end(), x.begin(), x.end());
  }
  return x;
}

}  // namespace adallava
