// The CLIP ViT vision tower for training (--train all): patch embedding (the stride-P conv as a
// product over flattened patches), class and position embeddings, pre-LayerNorm and pre-norm
// encoder blocks with bidirectional attention, up to the selected hidden state. Forward saves
// what the backward needs; templated on the scalar like grad_ops (checked in double against
// finite differences, run in float).
#pragma once
#include <cstdint>
#include <vector>

#include "train/grad_ops.h"

namespace adallava::train {

struct VisionShape {
  int64_t hidden = 0, intermediate = 0, patch = 0, image = 0;
  int heads = 0, layers = 0;  // layers: the blocks before the selected hidden state
  double ln_eps = 1e-5;
  Act act = Act::QuickGelu;
  int64_t grid() const { return image / patch; }
  int64_t tokens() const { return grid() * grid() + 1; }
};

template <class F>
struct VisionLayerParams {  // PyTorch layouts: [out, in]
  const F *ln1_w, *ln1_b, *q, *q_b, *k, *k_b, *v, *v_b, *o, *o_b, *ln2_w, *ln2_b, *fc1, *fc1_b, *fc2, *fc2_b;
};
template <class F>
struct VisionLayerGrads {  // accumulated into; any may be null (frozen)
  F *ln1_w, *ln1_b, *q, *q_b, *k, *k_b, *v, *v_b, *o, *o_b, *ln2_w, *ln2_b, *fc1, *fc1_b, *fc2, *fc2_b;
};
template <class F>
struct VisionParams {
  const F *patch, *class_emb, *pos_emb, *pre_ln_w, *pre_ln_b;  // patch [hidden, 3·P·P]
  std::vector<VisionLayerParams<F>> layers;
};
template <class F>
struct VisionGrads {  // any may be null (frozen)
  F *patch, *class_emb, *pos_emb, *pre_ln_w, *pre_ln_b;
  std::vector<VisionLayerGrads<F>> layers;
};

template <class F>
struct VisionActs {
  struct Layer {
    std::vector<F> x, xn1, m1, r1, q, k, v, p, att, x2, xn2, m2, r2, h, ha;
  };
  std::vector<F> patches, emb, pre_m, pre_r;
  std::vector<Layer> layers;
};

// pixels (3, S, S) → out (tokens, hidden): the hidden state after `layers` blocks, CLS in row 0.
template <class F>
void vision_forward(F* out, const F* pixels, const VisionParams<F>& w, const VisionShape& s, VisionActs<F>& acts);

// Weight gradients (accumulated into g) from dout (tokens, hidden); pixels get none.
template <class F>
void vision_backward(const F* dout, const VisionParams<F>& w, const VisionGrads<F>& g, const VisionShape& s,
                     const VisionActs<F>& acts);

}  // namespace adallava::train
