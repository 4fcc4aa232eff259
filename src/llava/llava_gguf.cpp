// A LLaVA-1.5 from llama.cpp's files: the text model as convert_hf_to_gguf.py (or the legacy
// converter) and llama-quantize write it, and the mmproj file of the LLaVA example's
// convert_image_encoder_to_gguf.py. Tensors keep their GGUF types and bytes (mapped, not
// copied) under the llava-hf names; q/k rows stay permuted and rope rotates adjacent pairs.
//
// The mmproj converter drops CLIP's last layer, so its block_count is the tower's layers − 1
// and running every stored block gives LLaVA's feature layer −2. (llama.cpp's own clip.cpp at
// the time ran one block fewer, i.e. feature layer −3; adallava computes LLaVA's.)
#include <filesystem>

#include "llava/llava.h"
#include "model/interleave_weights.h"
#include "tensor/error.h"

namespace adallava {
namespace fs = std::filesystem;

namespace {

int as_int(const GgufFile& f, const std::string& key, int64_t lo, int64_t hi) {
  const int64_t v = f.get_int(key);
  if (v < lo || v > hi)
    throw Error(f.path() + ": key " + key + " = " + std::to_string(v) + " is outside [" + std::to_string(lo) + ", " +
                std::to_string(hi) + "]");
  return int(v);
}

TextConfig text_config(const GgufFile& f) {
  const std::string arch = f.get_string("general.architecture");
  if (arch != "llama") throw Error(f.path() + ": general.architecture is '" + arch + "'; a LLaVA text model is 'llama'");
  TextConfig t;
  t.hidden_size = as_int(f, "llama.embedding_length", 1, 1 << 16);
  t.intermediate_size = as_int(f, "llama.feed_forward_length", 1, 1 << 18);
  t.num_layers = as_int(f, "llama.block_count", 1, 1024);
  t.num_heads = as_int(f, "llama.attention.head_count", 1, 1024);
  t.num_kv_heads = f.has("llama.attention.head_count_kv") ? as_int(f, "llama.attention.head_count_kv", 1, 1024)
                                                          : t.num_heads;
  if (t.hidden_size % t.num_heads != 0 || t.num_heads % t.num_kv_heads != 0)
    throw Error(f.path() + ": llama.embedding_length must split into llama.attention.head_count heads, "
                "and those into head_count_kv groups");
  t.head_dim = t.hidden_size / t.num_heads;
  if (f.has("llama.rope.dimension_count") && f.get_int("llama.rope.dimension_count") != t.head_dim)
    throw Error(f.path() + ": llama.rope.dimension_count differs from the head size (partial rope is not supported)");
  t.max_position_embeddings = as_int(f, "llama.context_length", 1, 1 << 24);
  t.rms_norm_eps = float(f.get_float("llama.attention.layer_norm_rms_epsilon"));
  t.rope_theta = float(f.get_float("llama.rope.freq_base", 10000.0));
  t.vocab_size = int(f.get_array("tokenizer.ggml.tokens").size());
  t.bos_token_id = f.get_int("tokenizer.ggml.bos_token_id", 1);
  t.eos_token_id = f.get_int("tokenizer.ggml.eos_token_id", 2);
  t.rope_adjacent_pairs = true;
  return t;
}

VisionConfig vision_config(const GgufFile& f) {
  const std::string arch = f.get_string("general.architecture");
  if (arch != "clip") throw Error(f.path() + ": general.architecture is '" + arch + "'; an mmproj file is 'clip'");
  if (f.has("clip.has_llava_projector") && !f.get_bool("clip.has_llava_projector"))
    throw Error(f.path() + ": this CLIP file has no LLaVA projector");
  const std::string proj = f.get_string("clip.projector_type", "mlp");
  if (proj != "mlp") throw Error(f.path() + ": clip.projector_type '" + proj + "' (LLaVA-1.5's is 'mlp')");
  VisionConfig v;
  v.hidden_size = as_int(f, "clip.vision.embedding_length", 1, 1 << 16);
  v.intermediate_size = as_int(f, "clip.vision.feed_forward_length", 1, 1 << 18);
  v.num_heads = as_int(f, "clip.vision.attention.head_count", 1, 1024);
  // llama.cpp's converter drops the last layer; adallava's records the tower's own count.
  v.num_layers = f.has("adallava.vision.num_layers") ? as_int(f, "adallava.vision.num_layers", 1, 1024)
                                                     : as_int(f, "clip.vision.block_count", 1, 1024) + 1;
  v.image_size = as_int(f, "clip.vision.image_size", 1, 1 << 14);
  v.patch_size = as_int(f, "clip.vision.patch_size", 1, 1 << 14);
  v.layer_norm_eps = float(f.get_float("clip.vision.attention.layer_norm_epsilon"));
  v.hidden_act = f.has("clip.use_gelu") && f.get_bool("clip.use_gelu") ? "gelu" : "quick_gelu";
  if (v.hidden_size % v.num_heads != 0 || v.image_size % v.patch_size != 0)
    throw Error(f.path() + ": the vision sizes do not divide (embedding_length by head_count, image_size by patch_size)");
  return v;
}

PreprocessConfig gguf_preprocess_config(const GgufFile& f, int image_size) {
  PreprocessConfig p;
  p.shortest_edge = p.crop_height = p.crop_width = image_size;
  for (const auto& [key, into] : {std::pair{"clip.vision.image_mean", &p.mean}, {"clip.vision.image_std", &p.std}}) {
    if (!f.has(key)) continue;
    const nlohmann::json& a = f.get_array(key);
    if (a.size() != 3) throw Error(f.path() + ": key " + key + " must hold 3 numbers");
    for (size_t i = 0; i < 3; ++i) {
      if (!a[i].is_number()) throw Error(f.path() + ": key " + key + " must hold 3 numbers");
      (*into)[i] = a[i].get<float>();
    }
  }
  return p;
}

// Every tensor of f that adallava reads, under its llava-hf name.
void add_tensors(TensorStore& store, const GgufFile& f, const names::LayoutNames& n) {
  const std::shared_ptr<MappedFile> mapping = gguf_mapping(f);
  for (const GgufTensor& t : f.tensors()) {
    const std::optional<std::string> name = names::hf_name_of_gguf(t.name, n);
    if (!name) continue;
    TensorRecord r;
    r.name = *name;
    r.dtype_name = dtype_name(t.dtype);
    r.is_float = true;
    r.dtype = t.dtype;
    r.shape = t.shape;
    r.data = t.data;
    r.nbytes = t.nbytes;
    r.file = f.path();
    store.add_mapped(std::move(r), mapping);
  }
}

}  // namespace

std::unique_ptr<LlavaModel> LlavaModel::load_gguf(const std::string& text_path, const std::string& mmproj_path) {
  auto m = std::make_unique<LlavaModel>();
  m->dir_ = text_path;
  auto text = std::make_shared<const GgufFile>(text_path);
  ModelConfig& c = m->cfg_;
  c.path = text_path;
  c.model_type = "llava";
  c.text = text_config(*text);
  std::unique_ptr<GgufFile> mmproj;
  if (!mmproj_path.empty()) {
    mmproj = std::make_unique<GgufFile>(mmproj_path);
    c.vision = vision_config(*mmproj);
    c.has_vision = true;
    c.layout = Layout::HfLlava;
    c.vision_feature_layer = int(mmproj->get_int("adallava.vision.feature_layer", -2));
    c.keep_cls = mmproj->has("adallava.keep_cls") && mmproj->get_bool("adallava.keep_cls");
    c.projector_act = "gelu";
    // The image token: the vocabulary's "<image>" (llava-hf style), else none in the vocabulary
    // and the prompt is split at the marker (the LLaVA repository's way, as llava-cli does).
    c.image_token_id = -200;
    const nlohmann::json& tokens = text->get_array("tokenizer.ggml.tokens");
    for (size_t i = 0; i < tokens.size(); ++i)
      if (tokens[i] == "<image>") c.image_token_id = int64_t(i);
  }
  c.raw = nlohmann::json::object();
  if (text->has("adallava.config")) {  // an AdaLLaVA written by `adallava convert`
    c.raw = nlohmann::json::parse(text->get_string("adallava.config"), nullptr, false);
    if (!c.raw.is_object()) throw Error(text_path + ": key adallava.config is not a JSON object");
    c.model_type = c.raw.value("model_type", "ada_llava_llama");
    if (!mmproj)
      throw Error(text_path + ": this AdaLLaVA keeps its scheduler in the mmproj file written beside it; give --mmproj");
    if (c.raw.contains("token_selecting") && c.raw["token_selecting"].is_string())
      c.token_selecting = c.raw["token_selecting"].get<std::string>();
  }
  auto store = std::make_unique<TensorStore>();
  store->set_origin(text_path);
  const names::LayoutNames n = names::layout_names(c.layout == Layout::HfLlava ? Layout::HfLlava : Layout::TextOnly);
  add_tensors(*store, *text, n);
  if (mmproj) add_tensors(*store, *mmproj, n);
  c.text.tie_word_embeddings = !store->has(n.lm_head);
  interleave_decoder_matrices(*store, n.decoder, n.lm_head, gguf_mapping(*text).get());
  m->stores_.push_back(std::move(store));
  m->gguf_ = text;
  m->bind_weights(*m->stores_[0], m->stores_[0].get(), n.vision);
  if (mmproj) {
    m->preprocess_ = gguf_preprocess_config(*mmproj, c.vision.image_size);
    m->preprocess_.pad_to_square = mmproj->has("adallava.pad_to_square") && mmproj->get_bool("adallava.pad_to_square");
    m->vision_dir_ = mmproj_path;
  }
  return m;
}

}  // namespace adallava
