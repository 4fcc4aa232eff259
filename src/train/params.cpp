#include "train/params.h"

#include "adaptive/latency_encoder.h"
#include "tensor/error.h"

namespace adallava::train {

const names::LayoutNames& train_names() {
  static const names::LayoutNames n = names::layout_names(Layout::OriginalLlava);
  return n;
}

namespace {

// Adds a tensor; its values must fill its shape.
void put(Params& p, const std::string& name, std::vector<float> values, std::vector<int64_t> shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  if (n != int64_t(values.size())) throw Error("internal: parameter " + name + " has the wrong shape");
  p.values[name] = std::move(values);
  p.shapes[name] = std::move(shape);
}

void put_linear(Params& p, const std::string& prefix, const Linear& l) {
  put(p, prefix + ".weight", widen_matrix(l.w), {l.w.rows, l.w.cols});
  if (!l.b.empty()) put(p, prefix + ".bias", l.b, {int64_t(l.b.size())});
}

void put_decoder(Params& p, const LlamaDecoder& d) {
  const names::LayoutNames& n = train_names();
  const int64_t H = d.hidden(), V = d.vocab();
  put(p, n.decoder + names::kEmbed, widen_matrix(d.embed_weight()), {V, H});
  put(p, n.lm_head, widen_matrix(d.lm_head_weight()), {V, H});
  put(p, n.decoder + names::kFinalNorm, d.final_norm_weight(), {H});
  for (int l = 0; l < d.config().num_layers; ++l) {
    const LlamaLayer& L = d.layer(l);
    const std::string prefix = names::decoder_layer(n.decoder, l);
    put(p, prefix + names::kAttnNorm, L.attn_norm, {H});
    put(p, prefix + names::kMlpNorm, L.mlp_norm, {H});
    const std::pair<const char*, const Linear*> linears[] = {{names::kQ, &L.q},       {names::kK, &L.k},
                                                             {names::kV, &L.v},       {names::kO, &L.o},
                                                             {names::kGate, &L.gate}, {names::kUp, &L.up},
                                                             {names::kDown, &L.down}};
    for (auto [name, lin] : linears) put(p, prefix + name, widen_matrix(lin->w), {lin->w.rows, lin->w.cols});
  }
}

void put_adaptive(Params& p, const AdaLlavaParts& a, int64_t H) {
  std::map<std::string, std::vector<float>> values;
  for (auto& [name, t] : a.encoder.tensors()) values[names::kLatencyEncoder + name] = t;
  const std::string head = names::kSchedulerHead;
  values[head + ".weight"] = widen_matrix(a.scheduler.head().w);
  values[head + ".bias"] = a.scheduler.head_bias();
  for (const names::TensorSpec& s : names::adaptive_tensors(H, a.scheduler.outputs(), kLatencyEncodingDim))
    put(p, s.name, std::move(values.at(s.name)), s.shape);
}

void put_vision(Params& p, const LlavaModel& m) {
  const ClipVisionTower& t = m.vision();
  for (const names::TensorSpec& s : names::vision_tensors(t.config(), t.feature_index(), "")) {
    const TensorRecord* r = m.vision_tensor(s.name);
    if (!r) throw Error(m.dir() + ": vision tower tensor " + s.name + " is missing");
    std::vector<float> v(size_t(r->numel()));
    to_f32(r->dtype, r->data, v.data(), v.size());
    put(p, kEmbeddedVisionPrefix + s.name, std::move(v), r->shape);
  }
}

}  // namespace

Params Params::from_model(const LlavaModel& m, bool train_vision) {
  if (m.config().layout == Layout::TextOnly) throw Error(m.dir() + ": training needs a LLaVA checkpoint");
  Params p;
  put_decoder(p, m.decoder());
  put_linear(p, train_names().projector1, m.projector().l1);
  put_linear(p, train_names().projector2, m.projector().l2);
  if (const AdaLlavaParts* a = m.adaptive()) put_adaptive(p, *a, m.decoder().hidden());
  p.train_vision = train_vision;
  if (train_vision || (m.has_vision() && m.vision_is_embedded())) {
    if (!m.has_vision()) throw Error(m.dir() + ": training the vision tower needs a model with one");
    put_vision(p, m);
  }
  return p;
}

bool Params::has_vision() const {
  return values.count(kEmbeddedVisionPrefix + std::string(names::kPreNorm) + ".weight") != 0;
}

const float* Params::at(const std::string& name) const {
  return values.at(name).data();
}
float* Params::at(const std::string& name) {
  return values.at(name).data();
}

std::map<std::string, std::vector<float>> Params::zeros_like() const {
  std::map<std::string, std::vector<float>> z;
  for (const auto& [name, t] : values) z[name].assign(t.size(), 0.f);
  return z;
}

}  // namespace adallava::train
