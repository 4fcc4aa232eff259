// Model configuration as transformers resolves it: a sparse config.json plus each class's
// defaults (LlamaConfig, CLIPVisionConfig, LlavaConfig), for both the llava-hf layout and the
// original LLaVA repository layout (LLaMA fields at top level, mm_* fields, separate CLIP folder).
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace adallava {

struct TextConfig {
  int hidden_size = 4096;
  int intermediate_size = 11008;
  int num_layers = 32;
  int num_heads = 32;
  int num_kv_heads = 32;
  int head_dim = 128;
  int vocab_size = 32000;
  int max_position_embeddings = 2048;
  float rms_norm_eps = 1e-6f;
  float rope_theta = 10000.f;
  std::string hidden_act = "silu";
  bool tie_word_embeddings = false;
  // Rope rotates adjacent pairs (2i, 2i+1) of a head instead of (i, i + d/2): the q/k rows of a
  // llama.cpp GGUF are stored permuted for that, which leaves q·k unchanged.
  bool rope_adjacent_pairs = false;
  int64_t bos_token_id = 1;
  int64_t eos_token_id = 2;
};

struct VisionConfig {
  int hidden_size = 768;
  int intermediate_size = 3072;
  int num_layers = 12;
  int num_heads = 12;
  int num_channels = 3;
  int image_size = 224;
  int patch_size = 32;
  float layer_norm_eps = 1e-5f;
  std::string hidden_act = "quick_gelu";

  int grid() const { return image_size / patch_size; }
  int num_patches() const { return grid() * grid(); }
};

enum class Layout {
  TextOnly,       // LlamaForCausalLM
  HfLlava,        // llava-hf: language_model.*, vision_tower.*, multi_modal_projector.*
  OriginalLlava,  // LLaVA repository: model.*, model.mm_projector.*, CLIP from mm_vision_tower
};

struct ModelConfig {
  std::string path;        // the config.json it came from, for messages
  std::string model_type;
  Layout layout = Layout::TextOnly;
  TextConfig text;
  bool has_vision = false;
  VisionConfig vision;
  int64_t image_token_id = 32000;  // -200 in the original layout
  std::string projector_act = "gelu";
  int vision_feature_layer = -2;
  bool keep_cls = false;           // vision_feature_select_strategy "full" / mm_vision_select_feature "cls_patch"
  bool pad_to_square = false;      // image_aspect_ratio "pad"
  int mm_hidden_size = 0;          // projector input width (original layout), = vision hidden size
  std::string vision_tower;        // original layout: the CLIP folder as written in the config
  std::string token_selecting = "none";  // AdaLLaVA: image token selection (model/token_selection.h)
  nlohmann::json raw;              // the file as read, for later layers (AdaLLaVA fields)
};

// Reads DIR/config.json. Throws Error naming the file and field at fault.
ModelConfig load_model_config(const std::string& dir);
// Reads a CLIP config (clip_vision_model, or clip with a vision_config) from DIR/config.json.
VisionConfig load_vision_config(const std::string& dir);

}  // namespace adallava
