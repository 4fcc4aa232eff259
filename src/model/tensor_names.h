// Every checkpoint tensor name the engine reads or writes, in one place: the LLaMA decoder's and
// the CLIP tower's names under a layout's prefixes, each layout's projector, and what AdaLLaVA
// adds (the authors' names). Loading, saving, training, the synthetic and fresh models and
// adaptive init all take their names (and, for new tensors, shapes) from here.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "io/hf_config.h"

namespace adallava::names {

// Under the decoder prefix.
inline constexpr const char* kEmbed = "embed_tokens.weight";
inline constexpr const char* kFinalNorm = "norm.weight";
// Under a decoder layer's prefix (decoder_layer()).
inline constexpr const char* kAttnNorm = "input_layernorm.weight";
inline constexpr const char* kMlpNorm = "post_attention_layernorm.weight";
inline constexpr const char* kQ = "self_attn.q_proj.weight";
inline constexpr const char* kK = "self_attn.k_proj.weight";
inline constexpr const char* kV = "self_attn.v_proj.weight";
inline constexpr const char* kO = "self_attn.o_proj.weight";
inline constexpr const char* kGate = "mlp.gate_proj.weight";
inline constexpr const char* kUp = "mlp.up_proj.weight";
inline constexpr const char* kDown = "mlp.down_proj.weight";

// Under the tower prefix.
inline constexpr const char* kPatch = "embeddings.patch_embedding.weight";
inline constexpr const char* kClass = "embeddings.class_embedding";
inline constexpr const char* kPositions = "embeddings.position_embedding.weight";
inline constexpr const char* kPreNorm = "pre_layrnorm";  // .weight, .bias
// Under a tower layer's prefix (vision_layer()); each with .weight and .bias.
inline constexpr const char* kNorm1 = "layer_norm1";
inline constexpr const char* kNorm2 = "layer_norm2";
inline constexpr const char* kVisionQ = "self_attn.q_proj";
inline constexpr const char* kVisionK = "self_attn.k_proj";
inline constexpr const char* kVisionV = "self_attn.v_proj";
inline constexpr const char* kVisionOut = "self_attn.out_proj";
inline constexpr const char* kFc1 = "mlp.fc1";
inline constexpr const char* kFc2 = "mlp.fc2";

// The tower of a self-contained original-layout checkpoint (trained here with its tower); a
// separate CLIP folder names it kClipPrefix; llava-hf keeps it under its own prefix.
inline constexpr const char* kEmbeddedVisionPrefix = "model.vision_tower.vision_tower.vision_model.";
inline constexpr const char* kClipPrefix = "vision_model.";

// AdaLLaVA (authors' names): the latency encoder's MLP ("0" LayerNorm, "1" and "3" Linear) and
// the scheduler head; older checkpoints keep the encoder at top level.
inline constexpr const char* kLatencyEncoder = "scheduler.scheduler_up_proj.net.";
inline constexpr const char* kLatencyEncoderOld = "scheduler_up_proj.net.";
inline constexpr const char* kSchedulerHead = "scheduler.mlp_head";  // .weight, .bias

// Where a layout keeps each part of a LLaVA.
struct LayoutNames {
  std::string decoder;                 // prefix of kEmbed, kFinalNorm and "layers.N."
  std::string lm_head;                 // full name
  std::string projector1, projector2;  // Linear prefixes (.weight, .bias)
  std::string vision;                  // the tower's prefix in the main checkpoint
};
LayoutNames layout_names(Layout layout);

std::string decoder_layer(const std::string& decoder, int l);  // "<decoder>layers.<l>."
std::string vision_layer(const std::string& vision, int l);  // "<vision>encoder.layers.<l>."

// llama.cpp's GGUF names (convert_hf_to_gguf.py for the text model, the LLaVA
// convert_image_encoder_to_gguf.py for the mmproj file) and the name the same tensor has in
// this layout; nullopt for a GGUF tensor adallava does not read. GGUF's attn_q/attn_k rows are
// the HF rows permuted for rope on adjacent pairs (TextConfig::rope_adjacent_pairs), and its
// CLIP ffn_down is fc1, ffn_up fc2 (the converter swaps the names).
std::optional<std::string> hf_name_of_gguf(const std::string& gguf_name, const LayoutNames& layout);
// Every GGUF name of a LLaVA text model of `layers` blocks (tied embeddings: no output) and of
// an mmproj file with `vision_blocks` blocks, in llama.cpp's converters' order.
std::vector<std::string> gguf_text_names(int layers, bool tied);
std::vector<std::string> gguf_mmproj_names(int vision_blocks);
// AdaLLaVA's own tensors keep their names under this prefix in a GGUF.
inline constexpr const char* kGgufAdaLlavaPrefix = "adallava.";

// A tensor a new checkpoint holds, and how a fresh one starts.
struct TensorSpec {
  enum class Init { Random, Ones, Zeros };
  std::string name;
  std::vector<int64_t> shape;
  Init init;
};

// Every tensor of a LLaVA in this layout: decoder, then the AdaLLaVA parts when
// scheduler_outputs > 0 (latency encoder of encoding_dim inputs, scheduler head), projector,
// and the tower's first vision_layers blocks under layout_names(layout).vision.
std::vector<TensorSpec> llava_tensors(const TextConfig& t, const VisionConfig& v, int vision_layers, Layout layout,
                                      int scheduler_outputs, int encoding_dim);
// The tower's tensors (its first `layers` blocks) under prefix.
std::vector<TensorSpec> vision_tensors(const VisionConfig& v, int layers, const std::string& prefix);
// What AdaLLaVA adds to a LLaVA of this hidden size.
std::vector<TensorSpec> adaptive_tensors(int64_t hidden, int scheduler_outputs, int encoding_dim);

}  // namespace adallava::names
