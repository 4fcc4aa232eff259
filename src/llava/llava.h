// A LLaVA-1.5-family model: vision tower, projector and LLaMA decoder, loaded from either the
// llava-hf layout or the original LLaVA repository layout (CLIP in its own folder), or a
// text-only LLaMA. Immutable after load; requests keep their own state (see generate/session).
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "adaptive/ada_llava.h"
#include "io/gguf.h"
#include "io/hf_config.h"
#include "io/safetensors.h"
#include "model/clip_vision.h"
#include "model/llama_decoder.h"
#include "model/projector.h"
#include "model/tensor_names.h"
#include "model/token_selection.h"
#include "vision/clip_preprocess.h"

namespace adallava {

// Original layout: a self-contained checkpoint keeps its CLIP tower under
// names::kEmbeddedVisionPrefix (the LLaVA repository's names). It is used when config.json also
// has a `vision_config` object (CLIPVisionConfig fields), as checkpoints trained here with the
// tower write; otherwise the tower comes from the folder named by mm_vision_tower (real LLaVA
// checkpoints carry stale copies of these tensors).
using names::kEmbeddedVisionPrefix;

struct LoadOptions {
  std::string vision_tower_dir;  // original layout: overrides config.mm_vision_tower
  std::string mmproj;            // GGUF: llama.cpp's mmproj file (vision tower and projector)
};

class LlavaModel {
 public:
  // A model folder, or a llama.cpp GGUF text model (with opts.mmproj for the image side).
  static std::unique_ptr<LlavaModel> load(const std::string& dir, const LoadOptions& opts = {});
  // llama.cpp's LLaVA-1.5 pair: text GGUF and (optional) mmproj GGUF; see llava_gguf.cpp.
  static std::unique_ptr<LlavaModel> load_gguf(const std::string& text_path, const std::string& mmproj_path);
  // A model from tensors already in memory: llava-hf layout (synthetic benchmarks), or the
  // original layout with the tower under kEmbeddedVisionPrefix (training's f32 params).
  static std::unique_ptr<LlavaModel> from_store(const ModelConfig& cfg, std::unique_ptr<TensorStore> store,
                                                const PreprocessConfig& preprocess);

  const ModelConfig& config() const { return cfg_; }
  const std::string& dir() const { return dir_; }
  bool has_vision() const { return vision_.has_value(); }
  const LlamaDecoder& decoder() const { return *decoder_; }
  const ClipVisionTower& vision() const { return *vision_; }
  const Projector& projector() const { return projector_; }
  const PreprocessConfig& preprocess_config() const { return preprocess_; }
  // The latency encoder and scheduler of an AdaLLaVA checkpoint; null for plain LLaVA.
  const AdaLlavaParts* adaptive() const { return adaptive_ ? &*adaptive_ : nullptr; }
  // Weights dtype of the decoder (decides the default precision).
  DType weight_dtype() const { return weight_dtype_; }
  // The checkpoint's tensors (the main file: decoder, projector, AdaLLaVA's parts).
  const TensorStore& store() const { return *stores_[0]; }
  // A tensor of the checkpoint by name (null if absent).
  const TensorRecord* find_tensor(const std::string& name) const;
  // Whether the vision tower lives in the main checkpoint (kEmbeddedVisionPrefix).
  bool vision_is_embedded() const { return vision_prefix_ == kEmbeddedVisionPrefix; }
  // The folder preprocessor_config.json (and, original layout, the CLIP tower) came from.
  const std::string& vision_dir() const { return vision_dir_; }
  // A tensor of the vision tower by its name under "vision_model." (e.g. "pre_layrnorm.weight").
  const TensorRecord* vision_tensor(const std::string& name) const;
  // Every tensor's bytes (for bandwidth probes).
  std::vector<std::pair<const void*, size_t>> weight_spans() const;
  // Rows one image contributes to the sequence without token selection (with PruMerge: at most this).
  int image_tokens() const;
  // The GGUF text file the model came from (its vocabulary is the tokenizer); null otherwise.
  const GgufFile* gguf() const { return gguf_.get(); }
  // The checkpoint's own token selection (AdaLLaVA's token_selecting; none otherwise).
  const TokenSelection& token_selection() const { return token_selection_; }

  // pixels (3, S, S) -> projected image features (rows, hidden): image_tokens() rows, or the
  // rows PruMerge keeps and merges when `selection` (default: the checkpoint's) says so. FastV
  // acts later, in the decoder. trace, if given, receives PruMerge's intermediate values.
  std::vector<float> encode_image(const float* pixels, Precision p, const TokenSelection* selection = nullptr,
                                  PruMergeTrace* trace = nullptr) const;

  // The decoder input: text embeddings with the image features spliced in place of the image
  // token. One placeholder expands to all image rows (transformers 4.44 / LLaVA); a run of
  // exactly as many placeholders as image rows is filled in order (transformers ≥ 4.45).
  // Returns (T, hidden); *merged_ids gets the ids with image rows marked by the image token.
  std::vector<float> merge_embeddings(const std::vector<int64_t>& ids, const std::vector<float>* image_features,
                                      std::vector<int64_t>* merged_ids = nullptr) const;

 private:
  // Binds every weight for the config's layout; vision_store is where the CLIP tower lives.
  void bind_weights(const TensorStore& main, const TensorStore* vision_store, const std::string& vision_prefix);

  std::string dir_;
  ModelConfig cfg_;
  std::vector<std::unique_ptr<TensorStore>> stores_;
  const TensorStore* vision_store_ = nullptr;
  std::string vision_prefix_, vision_dir_;
  std::optional<LlamaDecoder> decoder_;
  std::optional<ClipVisionTower> vision_;
  Projector projector_;
  std::optional<AdaLlavaParts> adaptive_;
  PreprocessConfig preprocess_;
  TokenSelection token_selection_;
  DType weight_dtype_ = DType::F32;
  std::shared_ptr<const GgufFile> gguf_;
};

}  // namespace adallava
