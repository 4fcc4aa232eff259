// The CLIP ViT vision tower: conv patch embedding (no bias), CLS token, position embeddings,
// pre-LayerNorm, pre-norm encoder blocks with bidirectional attention. Only the blocks up to
// the selected hidden state run (LLaVA reads the penultimate one, so the last block and the
// post-LayerNorm are never used).
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "io/hf_config.h"
#include "io/safetensors.h"
#include "model/prumerge.h"
#include "model/weights.h"

namespace adallava {

struct ClipLayer {
  std::vector<float> ln1_w, ln1_b, ln2_w, ln2_b;
  Linear q, k, v, out, fc1, fc2;
};

// What the tower's backward needs from its forward (training); normed inputs are recomputed.
struct ClipTrace {
  struct Layer {
    std::vector<float> x, q, k, v, probs, att, x2;  // input, projections, attention, mid stream
    std::vector<float> h, act;               // fc1's output before and after the activation
  };
  std::vector<float> patches, emb;  // flattened patches (patches, 3·P·P); embeddings before the pre-LayerNorm
  std::vector<Layer> layers;
};

class ClipVisionTower {
 public:
  // prefix: where "embeddings.", "pre_layrnorm.", "encoder.layers.N." live, e.g.
  // "vision_tower.vision_model.". Loads only the blocks needed for hidden state `feature_index`.
  static ClipVisionTower load(const TensorStore& store, const VisionConfig& cfg, const std::string& prefix,
                              int feature_index);

  const VisionConfig& config() const { return cfg_; }
  int tokens() const { return cfg_.num_patches() + 1; }
  // Blocks that run: the selected hidden state is the output of this many.
  int feature_index() const { return feature_index_; }

  // pixels (3, S, S) -> hidden state `feature_index` (tokens, hidden), CLS in row 0.
  // all_states, if given, receives hidden states 0..feature_index ((feature_index+1), tokens, hidden).
  // trace, if given, receives what the backward needs. last_input, if given, receives the input
  // of the last layer when that layer runs (feature layer -1; PruMerge's ranking reads it).
  std::vector<float> encode(const float* pixels, Precision p, std::vector<float>* all_states = nullptr,
                            ClipTrace* trace = nullptr, std::vector<float>* last_input = nullptr) const;
  const ClipLayer& layer(int l) const { return layers_[size_t(l)]; }
  const WeightView& patch_weight() const { return patch_; }
  const std::vector<float>& pre_norm_weight() const { return pre_ln_w_; }
  // The last layer's LayerNorm and Q/K, which PruMerge reads; null when the feature layer is
  // neither its input nor its output, or the checkpoint lacks it (llama.cpp's mmproj files drop
  // the last layer).
  const SelectionLayer* selection_layer() const { return selection_ ? &*selection_ : nullptr; }

 private:
  VisionConfig cfg_;
  int feature_index_ = 0;
  WeightView patch_;  // [hidden, 3·P·P]
  std::vector<float> class_emb_, pos_emb_, pre_ln_w_, pre_ln_b_;
  std::vector<ClipLayer> layers_;
  std::optional<SelectionLayer> selection_;
};

}  // namespace adallava
