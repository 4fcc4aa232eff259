#include "llava/gguf_export.h"

#include <cstring>
#include <filesystem>
#include <map>

#include "adaptive/ada_config.h"
#include "io/gguf_writer.h"
#include "tensor/error.h"
#include "tensor/quant.h"

namespace adallava {

namespace {

std::vector<float> widen(const TensorRecord& r) {
  std::vector<float> f(static_cast<size_t>(r.numel()));
  to_f32(r.dtype, r.data, f.data(), f.size());
  return f;
}

// llama.cpp's row order for q/k: GGUF row h·d + 2i + j = HF row h·d + j·d/2 + i (rope on pairs).
std::vector<float> permute_for_rope(const std::vector<float>& w, int64_t rows, int64_t cols, int heads) {
  std::vector<float> out(w.size());
  const int64_t d = rows / heads;
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t i = 0; i < d / 2; ++i)
      for (int64_t j = 0; j < 2; ++j)
        std::memcpy(&out[size_t((h * d + 2 * i + j) * cols)], &w[size_t((h * d + j * d / 2 + i) * cols)],
                    size_t(cols) * 4);
  return out;
}

ByteBuffer encode(const std::vector<float>& f, DType t) {
  ByteBuffer out(row_bytes(t, int64_t(f.size())));
  if (is_quantized(t)) {
    quantize(t, f.data(), out.data(), int64_t(f.size()));
  } else if (t == DType::F32) {
    std::memcpy(out.data(), f.data(), out.size());
  } else {
    for (size_t i = 0; i < f.size(); ++i) {
      const uint16_t h = t == DType::F16 ? f32_to_f16(f[i]) : f32_to_bf16(f[i]);
      std::memcpy(out.data() + 2 * i, &h, 2);
    }
  }
  return out;
}

// The type a matrix can take: the wanted one when its rows are whole blocks, else the next
// that fits (Q4_K → Q8_0 → F16), as llama-quantize falls back.
DType fitting_type(DType want, int64_t row) {
  if (row % block_elems(want) == 0) return want;
  if (is_quantized(want) && row % 32 == 0) return DType::Q8_0;
  return DType::F16;
}

uint32_t file_type(DType t) {
  switch (t) {
    case DType::F32: return 0;
    case DType::F16: return 1;
    case DType::Q4_0: return 2;
    case DType::Q8_0: return 7;
    case DType::Q4_K: return 14;  // llama.cpp's MOSTLY_Q4_K_S: every matrix Q4_K
    default: throw Error(std::string("convert: ") + dtype_name(t) + " is not a GGUF output type");
  }
}

class Writer {
 public:
  explicit Writer(GgufWriter& w) : w_(w) {}
  void tensor(const std::string& name, const TensorRecord& r, DType t, std::vector<float> values = {}) {
    if (values.empty()) values = widen(r);
    if (r.shape.size() < 2) t = DType::F32;
    t = fitting_type(t, r.shape.back());
    ++counts_[dtype_name(t)];
    w_.add_tensor(name, t, r.shape, encode(values, t));
  }
  std::string summary() const {
    std::string s;
    for (const auto& [t, n] : counts_) s += (s.empty() ? "" : ", ") + std::to_string(n) + " " + t;
    return s;
  }

 private:
  GgufWriter& w_;
  std::map<std::string, int> counts_;
};

void write_vocabulary(GgufWriter& w, const Tokenizer& tok, int64_t n) {
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> types;
  for (const SpPiece& p : tok.vocabulary(n)) tokens.push_back(p.text), scores.push_back(p.score), types.push_back(p.type);
  w.add_string("tokenizer.ggml.model", "llama");
  w.add_strings("tokenizer.ggml.tokens", tokens);
  w.add_f32s("tokenizer.ggml.scores", scores);
  w.add_i32s("tokenizer.ggml.token_type", types);
  w.add_u32("tokenizer.ggml.bos_token_id", uint32_t(tok.bos_id()));
  w.add_u32("tokenizer.ggml.eos_token_id", uint32_t(tok.eos_id()));
  w.add_u32("tokenizer.ggml.unknown_token_id", 0);
  w.add_bool("tokenizer.ggml.add_bos_token", true);
  w.add_bool("tokenizer.ggml.add_eos_token", false);
}

std::string text_file(const LlavaModel& m, const Tokenizer& tok, const GgufExport& o) {
  const ModelConfig& c = m.config();
  const TextConfig& t = c.text;
  const names::LayoutNames n = names::layout_names(c.layout);
  const bool tied = !m.find_tensor(n.lm_head);
  GgufWriter w;
  w.add_string("general.architecture", "llama");
  w.add_string("general.name", std::filesystem::path(m.dir()).filename().string());
  w.add_u32("general.file_type", file_type(o.dtype));
  w.add_u32("general.quantization_version", 2);
  write_llama_hparams(w, t);
  write_vocabulary(w, tok, t.vocab_size);
  if (is_adallava(c)) w.add_string("adallava.config", c.raw.dump());
  Writer out(w);
  for (const std::string& g : names::gguf_text_names(t.num_layers, tied)) {
    const std::string hf = *names::hf_name_of_gguf(g, n);
    const TensorRecord* r = m.find_tensor(hf);
    if (!r) throw Error(m.dir() + ": missing tensor " + hf);
    std::vector<float> values;
    const bool q = g.find(".attn_q.") != std::string::npos, k = g.find(".attn_k.") != std::string::npos;
    if (q || k) values = permute_for_rope(widen(*r), r->shape[0], r->shape[1], q ? t.num_heads : t.num_kv_heads);
    out.tensor(g, *r, o.dtype, std::move(values));
  }
  w.write(o.text_path);
  return o.text_path + " (" + std::to_string(w.tensor_count()) + " tensors: " + out.summary() + ")";
}

std::string mmproj_file(const LlavaModel& m, const GgufExport& o) {
  const ModelConfig& c = m.config();
  const VisionConfig& v = m.vision().config();
  const names::LayoutNames n = names::layout_names(c.layout);
  // The blocks LLaVA's feature needs, and the last one too when PruMerge reads it.
  const int blocks = std::min(v.num_layers, m.vision().feature_index() + (m.token_selection().merges_patches() ? 1 : 0));
  GgufWriter w;
  w.add_string("general.architecture", "clip");
  w.add_bool("clip.has_text_encoder", false);
  w.add_bool("clip.has_vision_encoder", true);
  w.add_bool("clip.has_llava_projector", true);
  w.add_u32("general.file_type", o.dtype == DType::F32 ? 0 : 1);
  w.add_string("general.name", std::filesystem::path(m.dir()).filename().string() + " vision");
  w.add_string("general.description", "image encoder for LLaVA");
  w.add_string("clip.projector_type", "mlp");
  w.add_u32("clip.vision.image_size", uint32_t(v.image_size));
  w.add_u32("clip.vision.patch_size", uint32_t(v.patch_size));
  w.add_u32("clip.vision.embedding_length", uint32_t(v.hidden_size));
  w.add_u32("clip.vision.feed_forward_length", uint32_t(v.intermediate_size));
  w.add_u32("clip.vision.projection_dim", uint32_t(c.text.hidden_size));
  w.add_u32("clip.vision.attention.head_count", uint32_t(v.num_heads));
  w.add_f32("clip.vision.attention.layer_norm_epsilon", v.layer_norm_eps);
  w.add_u32("clip.vision.block_count", uint32_t(blocks));
  const PreprocessConfig& p = m.preprocess_config();
  w.add_f32s("clip.vision.image_mean", {p.mean[0], p.mean[1], p.mean[2]});
  w.add_f32s("clip.vision.image_std", {p.std[0], p.std[1], p.std[2]});
  w.add_bool("clip.use_gelu", v.hidden_act == "gelu");
  // What llama.cpp's files leave implicit (a tower of block_count + 1 layers, feature layer -2).
  w.add_u32("adallava.vision.num_layers", uint32_t(v.num_layers));
  w.add_i32("adallava.vision.feature_layer", int32_t(m.vision().feature_index() - v.num_layers - 1));
  w.add_bool("adallava.keep_cls", c.keep_cls);
  w.add_bool("adallava.pad_to_square", p.pad_to_square);
  Writer out(w);
  for (const std::string& g : names::gguf_mmproj_names(blocks)) {
    const std::string hf = *names::hf_name_of_gguf(g, n);
    const bool vision = hf.rfind(n.vision, 0) == 0;
    const TensorRecord* r = vision ? m.vision_tensor(hf.substr(n.vision.size())) : m.find_tensor(hf);
    if (!r) throw Error(m.dir() + ": missing tensor " + hf);
    out.tensor(g, *r, o.dtype == DType::F32 ? DType::F32 : DType::F16);
  }
  // AdaLLaVA's scheduler and latency encoder ("scheduler.*", older "scheduler_up_proj.*") go
  // here: llama.cpp's text loader refuses tensors it does not know, its CLIP loader does not.
  if (is_adallava(c))
    for (const auto& [name, r] : m.store().records())
      if (name.rfind("scheduler", 0) == 0) out.tensor(names::kGgufAdaLlavaPrefix + name, r, DType::F32);
  w.write(o.mmproj_path);
  return o.mmproj_path + " (" + std::to_string(w.tensor_count()) + " tensors: " + out.summary() + ")";
}

}  // namespace

void write_llama_hparams(GgufWriter& w, const TextConfig& t) {
  w.add_u32("llama.block_count", uint32_t(t.num_layers));
  w.add_u32("llama.context_length", uint32_t(t.max_position_embeddings));
  w.add_u32("llama.embedding_length", uint32_t(t.hidden_size));
  w.add_u32("llama.feed_forward_length", uint32_t(t.intermediate_size));
  w.add_u32("llama.attention.head_count", uint32_t(t.num_heads));
  w.add_u32("llama.attention.head_count_kv", uint32_t(t.num_kv_heads));
  w.add_f32("llama.rope.freq_base", t.rope_theta);
  w.add_f32("llama.attention.layer_norm_rms_epsilon", t.rms_norm_eps);
  w.add_u32("llama.rope.dimension_count", uint32_t(t.head_dim));
  w.add_u32("llama.vocab_size", uint32_t(t.vocab_size));
}

std::string export_gguf(const LlavaModel& model, const Tokenizer& tokenizer, const GgufExport& options) {
  if (options.text_path == options.mmproj_path) throw Error("convert: the text and mmproj files need two names");
  std::string summary = "wrote " + text_file(model, tokenizer, options);
  if (model.has_vision()) summary += " and " + mmproj_file(model, options);
  return summary;
}

}  // namespace adallava
