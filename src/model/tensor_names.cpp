#include "model/tensor_names.h"

#include <cctype>

namespace adallava::names {

LayoutNames layout_names(Layout layout) {
  if (layout == Layout::HfLlava)
    return {"language_model.model.", "language_model.lm_head.weight", "multi_modal_projector.linear_1",
            "multi_modal_projector.linear_2", "vision_tower.vision_model."};
  return {"model.", "lm_head.weight", "model.mm_projector.0", "model.mm_projector.2", kEmbeddedVisionPrefix};
}

std::string decoder_layer(const std::string& decoder, int l) {
  return decoder + "layers." + std::to_string(l) + ".";
}

std::string vision_layer(const std::string& vision, int l) {
  return vision + "encoder.layers." + std::to_string(l) + ".";
}

namespace {

// "blk.N.<part>" → "<prefix>layers.N.<name>" style pairs: a GGUF part and the layer's own name.
struct PartName {
  const char* gguf;
  const char* hf;
};
constexpr PartName kGgufTextLayer[] = {{"attn_norm.weight", kAttnNorm}, {"attn_q.weight", kQ},
                                       {"attn_k.weight", kK},           {"attn_v.weight", kV},
                                       {"attn_output.weight", kO},      {"ffn_norm.weight", kMlpNorm},
                                       {"ffn_gate.weight", kGate},      {"ffn_up.weight", kUp},
                                       {"ffn_down.weight", kDown}};
constexpr PartName kGgufVisionLayer[] = {{"attn_q", kVisionQ}, {"attn_k", kVisionK},   {"attn_v", kVisionV},
                                         {"attn_out", kVisionOut}, {"ln1", kNorm1},     {"ln2", kNorm2},
                                         {"ffn_down", kFc1},       {"ffn_up", kFc2}};

// "blk.12.rest" → (12, "rest") for the given block prefix.
std::optional<std::pair<int, std::string>> split_block(const std::string& name, const std::string& prefix) {
  if (name.rfind(prefix, 0) != 0) return std::nullopt;
  size_t i = prefix.size(), j = i;
  while (j < name.size() && j - i < 6 && std::isdigit(static_cast<unsigned char>(name[j]))) ++j;
  if (j == i || j >= name.size() || name[j] != '.') return std::nullopt;
  return std::make_pair(std::stoi(name.substr(i, j - i)), name.substr(j + 1));
}

}  // namespace

std::vector<std::string> gguf_text_names(int layers, bool tied) {
  std::vector<std::string> out = {"token_embd.weight"};
  for (int l = 0; l < layers; ++l)
    for (const PartName& p : kGgufTextLayer) out.push_back("blk." + std::to_string(l) + "." + p.gguf);
  out.push_back("output_norm.weight");
  if (!tied) out.push_back("output.weight");
  return out;
}

std::vector<std::string> gguf_mmproj_names(int vision_blocks) {
  std::vector<std::string> out = {"mm.0.weight", "mm.0.bias", "mm.2.weight", "mm.2.bias", "v.class_embd",
                                  "v.patch_embd.weight", "v.position_embd.weight", "v.pre_ln.weight", "v.pre_ln.bias"};
  for (int l = 0; l < vision_blocks; ++l)
    for (const PartName& p : kGgufVisionLayer)
      for (const char* suffix : {".weight", ".bias"}) out.push_back("v.blk." + std::to_string(l) + "." + p.gguf + suffix);
  return out;
}

std::optional<std::string> hf_name_of_gguf(const std::string& g, const LayoutNames& n) {
  if (g.rfind(kGgufAdaLlavaPrefix, 0) == 0) return g.substr(std::string(kGgufAdaLlavaPrefix).size());
  if (g == "token_embd.weight") return n.decoder + kEmbed;
  if (g == "output_norm.weight") return n.decoder + kFinalNorm;
  if (g == "output.weight") return n.lm_head;
  if (auto b = split_block(g, "blk."))
    for (const PartName& p : kGgufTextLayer)
      if (b->second == p.gguf) return decoder_layer(n.decoder, b->first) + p.hf;
  if (g == "mm.0.weight" || g == "mm.0.bias") return n.projector1 + g.substr(4);
  if (g == "mm.2.weight" || g == "mm.2.bias") return n.projector2 + g.substr(4);
  if (g == "v.class_embd") return n.vision + kClass;
  if (g == "v.patch_embd.weight") return n.vision + kPatch;
  if (g == "v.position_embd.weight") return n.vision + kPositions;
  if (g == "v.pre_ln.weight" || g == "v.pre_ln.bias") return n.vision + kPreNorm + g.substr(8);
  if (auto b = split_block(g, "v.blk."))
    for (const PartName& p : kGgufVisionLayer)
      for (const char* suffix : {".weight", ".bias"})
        if (b->second == std::string(p.gguf) + suffix) return vision_layer(n.vision, b->first) + p.hf + suffix;
  return std::nullopt;
}

namespace {

using Init = TensorSpec::Init;

void add_linear(std::vector<TensorSpec>& t, const std::string& prefix, int64_t out, int64_t in) {
  t.push_back({prefix + ".weight", {out, in}, Init::Random});
  t.push_back({prefix + ".bias", {out}, Init::Zeros});
}

void add_layer_norm(std::vector<TensorSpec>& t, const std::string& prefix, int64_t n) {
  t.push_back({prefix + ".weight", {n}, Init::Ones});
  t.push_back({prefix + ".bias", {n}, Init::Zeros});
}

void add_decoder(std::vector<TensorSpec>& t, const TextConfig& c, const LayoutNames& n) {
  const int64_t H = c.hidden_size, I = c.intermediate_size, V = c.vocab_size;
  const int64_t qd = int64_t(c.num_heads) * c.head_dim, kvd = int64_t(c.num_kv_heads) * c.head_dim;
  t.push_back({n.decoder + kEmbed, {V, H}, Init::Random});
  t.push_back({n.lm_head, {V, H}, Init::Random});
  t.push_back({n.decoder + kFinalNorm, {H}, Init::Ones});
  for (int l = 0; l < c.num_layers; ++l) {
    const std::string p = decoder_layer(n.decoder, l);
    t.push_back({p + kAttnNorm, {H}, Init::Ones});
    t.push_back({p + kMlpNorm, {H}, Init::Ones});
    t.push_back({p + kQ, {qd, H}, Init::Random});
    t.push_back({p + kK, {kvd, H}, Init::Random});
    t.push_back({p + kV, {kvd, H}, Init::Random});
    t.push_back({p + kO, {H, qd}, Init::Random});
    t.push_back({p + kGate, {I, H}, Init::Random});
    t.push_back({p + kUp, {I, H}, Init::Random});
    t.push_back({p + kDown, {H, I}, Init::Random});
  }
}

}  // namespace

std::vector<TensorSpec> vision_tensors(const VisionConfig& v, int layers, const std::string& prefix) {
  std::vector<TensorSpec> t;
  const int64_t C = v.hidden_size, P = v.patch_size, I = v.intermediate_size, N = v.num_patches() + 1;
  t.push_back({prefix + kPatch, {C, 3, P, P}, Init::Random});
  t.push_back({prefix + kClass, {C}, Init::Random});
  t.push_back({prefix + kPositions, {N, C}, Init::Random});
  add_layer_norm(t, prefix + kPreNorm, C);
  for (int l = 0; l < layers; ++l) {
    const std::string p = vision_layer(prefix, l);
    add_layer_norm(t, p + kNorm1, C);
    add_layer_norm(t, p + kNorm2, C);
    for (const char* proj : {kVisionQ, kVisionK, kVisionV, kVisionOut}) add_linear(t, p + proj, C, C);
    add_linear(t, p + kFc1, I, C);
    add_linear(t, p + kFc2, C, I);
  }
  return t;
}

std::vector<TensorSpec> adaptive_tensors(int64_t hidden, int scheduler_outputs, int encoding_dim) {
  std::vector<TensorSpec> t;
  const std::string e = kLatencyEncoder;
  add_layer_norm(t, e + "0", encoding_dim);
  add_linear(t, e + "1", hidden, encoding_dim);
  add_linear(t, e + "3", hidden, hidden);
  add_linear(t, kSchedulerHead, scheduler_outputs, hidden);
  return t;
}

std::vector<TensorSpec> llava_tensors(const TextConfig& t, const VisionConfig& v, int vision_layers, Layout layout,
                                      int scheduler_outputs, int encoding_dim) {
  const LayoutNames n = layout_names(layout);
  std::vector<TensorSpec> specs;
  add_decoder(specs, t, n);
  if (scheduler_outputs > 0) {
    const std::vector<TensorSpec> a = adaptive_tensors(t.hidden_size, scheduler_outputs, encoding_dim);
    specs.insert(specs.end(), a.begin(), a.end());
  }
  add_linear(specs, n.projector1, t.hidden_size, v.hidden_size);
  add_linear(specs, n.projector2, t.hidden_size, t.hidden_size);
  const std::vector<TensorSpec> tower = vision_tensors(v, vision_layers, n.vision);
  specs.insert(specs.end(), tower.begin(), tower.end());
  return specs;
}

}  // namespace adallava::names
