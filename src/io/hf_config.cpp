#include "io/hf_config.h"

#include <filesystem>
#include <fstream>

#include "kernels/ops.h"
#include "io/json_number.h"
#include "tensor/error.h"

namespace adallava {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

json read_json_file(const std::string& path) {
  if (!fs::exists(path)) throw Error(path + ": file not found");
  std::ifstream in(path);
  json j = json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.is_object()) throw Error(path + ": not a valid JSON object");
  return j;
}

// Typed field readers: absent or null -> default; present with the wrong type -> error.
struct Fields {
  const json& j;
  const std::string& file;
  std::string prefix;  // e.g. "text_config." for messages

  Error bad(const std::string& key, const std::string& what) const {
    return Error(file + ": field " + prefix + key + " " + what);
  }
  bool has(const char* key) const { return j.contains(key) && !j[key].is_null(); }
  int get_int(const char* key, int def, int lo = 1, int hi = 1 << 30) const {
    if (!has(key)) return def;
    if (!j[key].is_number_integer()) throw bad(key, "must be an integer");
    int64_t v = j[key].get<int64_t>();
    if (v < lo || v > hi) throw bad(key, "= " + std::to_string(v) + " is out of range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
    return int(v);
  }
  int64_t get_i64(const char* key, int64_t def) const {
    if (!has(key)) return def;
    if (j[key].is_array() && !j[key].empty() && j[key][0].is_number_integer()) return j[key][0].get<int64_t>();
    if (!j[key].is_number_integer()) throw bad(key, "must be an integer");
    return j[key].get<int64_t>();
  }
  float get_float(const char* key, float def) const {
    if (!has(key)) return def;
    return json_float(j[key], file + ": field " + prefix + key);
  }
  bool get_bool(const char* key, bool def) const {
    if (!has(key)) return def;
    if (!j[key].is_boolean()) throw bad(key, "must be true or false");
    return j[key].get<bool>();
  }
  std::string get_str(const char* key, const std::string& def) const {
    if (!has(key)) return def;
    if (!j[key].is_string()) throw bad(key, "must be a string");
    return j[key].get<std::string>();
  }
};

TextConfig parse_text(const json& j, const std::string& file, const std::string& prefix) {
  Fields f{j, file, prefix};
  TextConfig t;  // LlamaConfig defaults
  t.vocab_size = f.get_int("vocab_size", 32000);
  t.hidden_size = f.get_int("hidden_size", 4096);
  t.intermediate_size = f.get_int("intermediate_size", 11008);
  t.num_layers = f.get_int("num_hidden_layers", 32);
  t.num_heads = f.get_int("num_attention_heads", 32);
  t.num_kv_heads = f.get_int("num_key_value_heads", t.num_heads);
  t.max_position_embeddings = f.get_int("max_position_embeddings", 2048);
  t.rms_norm_eps = f.get_float("rms_norm_eps", 1e-6f);
  t.rope_theta = f.get_float("rope_theta", 10000.f);
  t.hidden_act = f.get_str("hidden_act", "silu");
  t.tie_word_embeddings = f.get_bool("tie_word_embeddings", false);
  t.bos_token_id = f.get_i64("bos_token_id", 1);
  t.eos_token_id = f.get_i64("eos_token_id", 2);
  if (t.hidden_size % t.num_heads != 0)
    throw f.bad("num_attention_heads", "= " + std::to_string(t.num_heads) + " does not divide hidden_size " + std::to_string(t.hidden_size));
  t.head_dim = f.get_int("head_dim", t.hidden_size / t.num_heads);
  if (t.head_dim % 2 != 0) throw f.bad("head_dim", "must be even for rotary embeddings");
  if (t.num_heads % t.num_kv_heads != 0)
    throw f.bad("num_key_value_heads", "= " + std::to_string(t.num_kv_heads) + " does not divide num_attention_heads " + std::to_string(t.num_heads));
  if (t.hidden_act != "silu" && t.hidden_act != "swish")
    throw f.bad("hidden_act", "'" + t.hidden_act + "' is not supported (LLaMA uses silu)");
  if (f.has("rope_scaling") && !(j["rope_scaling"].is_object() && j["rope_scaling"].empty()))
    throw f.bad("rope_scaling", "is not supported");
  if (f.get_bool("attention_bias", false)) throw f.bad("attention_bias", "= true is not supported");
  if (f.get_bool("mlp_bias", false)) throw f.bad("mlp_bias", "= true is not supported");
  return t;
}

VisionConfig parse_vision(const json& j, const std::string& file, const std::string& prefix) {
  Fields f{j, file, prefix};
  VisionConfig v;  // CLIPVisionConfig defaults
  v.hidden_size = f.get_int("hidden_size", 768);
  v.intermediate_size = f.get_int("intermediate_size", 3072);
  v.num_layers = f.get_int("num_hidden_layers", 12);
  v.num_heads = f.get_int("num_attention_heads", 12);
  v.num_channels = f.get_int("num_channels", 3);
  v.image_size = f.get_int("image_size", 224);
  v.patch_size = f.get_int("patch_size", 32);
  v.layer_norm_eps = f.get_float("layer_norm_eps", 1e-5f);
  v.hidden_act = f.get_str("hidden_act", "quick_gelu");
  if (v.hidden_size % v.num_heads != 0) throw f.bad("num_attention_heads", "does not divide hidden_size");
  if (v.image_size % v.patch_size != 0) throw f.bad("patch_size", "does not divide image_size");
  if (v.num_channels != 3) throw f.bad("num_channels", "must be 3 (RGB)");
  if (!activation_known(v.hidden_act.c_str())) throw f.bad("hidden_act", "'" + v.hidden_act + "' is not supported");
  return v;
}

}  // namespace

VisionConfig load_vision_config(const std::string& dir) {
  std::string path = (fs::path(dir) / "config.json").string();
  json j = read_json_file(path);
  if (j.contains("vision_config") && j["vision_config"].is_object())  // a full CLIPModel config
    return parse_vision(j["vision_config"], path, "vision_config.");
  return parse_vision(j, path, "");
}

ModelConfig load_model_config(const std::string& dir) {
  if (!fs::is_directory(dir)) throw Error(dir + ": model folder not found");
  ModelConfig c;
  c.path = (fs::path(dir) / "config.json").string();
  c.raw = read_json_file(c.path);
  const json& j = c.raw;
  Fields f{j, c.path, ""};
  c.model_type = f.get_str("model_type", "");

  if (j.contains("mm_vision_tower") || c.model_type == "llava_llama" || c.model_type == "ada_llava_llama") {
    // Original LLaVA repository layout (LlavaConfig(LlamaConfig)): LLaMA fields at top level.
    c.layout = Layout::OriginalLlava;
    c.text = parse_text(j, c.path, "");
    c.has_vision = true;
    c.image_token_id = -200;  // IMAGE_TOKEN_INDEX of the LLaVA repository
    c.vision_tower = f.get_str("mm_vision_tower", "");
    if (c.vision_tower.empty()) throw f.bad("mm_vision_tower", "is missing: the CLIP tower folder is unknown");
    std::string proj = f.get_str("mm_projector_type", "linear");
    if (proj != "mlp2x_gelu") throw f.bad("mm_projector_type", "'" + proj + "' is not supported (mlp2x_gelu is)");
    c.projector_act = "gelu";
    c.vision_feature_layer = f.get_int("mm_vision_select_layer", -2, -1000, 1000);
    std::string feat = f.get_str("mm_vision_select_feature", "patch");
    if (feat != "patch" && feat != "cls_patch") throw f.bad("mm_vision_select_feature", "'" + feat + "' is not supported");
    c.keep_cls = feat == "cls_patch";
    std::string aspect = f.get_str("image_aspect_ratio", "square");
    if (aspect != "pad" && aspect != "square" && aspect != "resize")
      throw f.bad("image_aspect_ratio", "'" + aspect + "' is not supported (pad or square)");
    c.pad_to_square = aspect == "pad";
    c.mm_hidden_size = f.get_int("mm_hidden_size", 1024);
    c.token_selecting = f.get_str("token_selecting", "none");
    if (f.get_bool("mm_use_im_start_end", false)) throw f.bad("mm_use_im_start_end", "= true is not supported");
    std::string merge = f.get_str("mm_patch_merge_type", "flat");
    if (merge != "flat") throw f.bad("mm_patch_merge_type", "'" + merge + "' is not supported (flat is)");
    // The vision config itself comes from the CLIP folder (see load_vision_config).
  } else if (c.model_type == "llava") {
    c.layout = Layout::HfLlava;
    if (!j.contains("text_config") || !j["text_config"].is_object())
      c.text = parse_text(json::object(), c.path, "text_config.");
    else {
      std::string tt = Fields{j["text_config"], c.path, "text_config."}.get_str("model_type", "llama");
      if (tt != "llama") throw Error(c.path + ": field text_config.model_type '" + tt + "' is not supported (llama is)");
      c.text = parse_text(j["text_config"], c.path, "text_config.");
    }
    c.has_vision = true;
    if (j.contains("vision_config") && j["vision_config"].is_object()) {
      c.vision = parse_vision(j["vision_config"], c.path, "vision_config.");
    } else {  // LlavaConfig's default vision tower: CLIP ViT-L/14-336
      c.vision.hidden_size = 1024, c.vision.intermediate_size = 4096, c.vision.patch_size = 14;
      c.vision.image_size = 336, c.vision.num_layers = 24, c.vision.num_heads = 16;
    }
    c.image_token_id = f.get_i64("image_token_index", 32000);
    c.projector_act = f.get_str("projector_hidden_act", "gelu");
    if (!activation_known(c.projector_act.c_str()))
      throw f.bad("projector_hidden_act", "'" + c.projector_act + "' is not supported");
    c.vision_feature_layer = f.get_int("vision_feature_layer", -2, -1000, 1000);
    std::string strat = f.get_str("vision_feature_select_strategy", "default");
    if (strat != "default" && strat != "full")
      throw f.bad("vision_feature_select_strategy", "'" + strat + "' is not supported (default or full)");
    c.keep_cls = strat == "full";
    c.mm_hidden_size = c.vision.hidden_size;
  } else if (c.model_type == "llama") {
    c.layout = Layout::TextOnly;
    c.text = parse_text(j, c.path, "");
  } else {
    throw Error(c.path + ": unknown model_type '" + c.model_type + "' (supported: llava, llama, llava_llama, ada_llava_llama)");
  }
  return c;
}

}  // namespace adallava
