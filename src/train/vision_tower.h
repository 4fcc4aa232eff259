// The backward of the CLIP ViT vision tower as the inference tower runs it (model/clip_vision,
// encode with a trace), for --train all: encoder blocks in reverse, the pre-LayerNorm, then the
// class, position and patch embeddings. Pixels get no gradient.
#pragma once
#include <vector>

#include "model/clip_vision.h"

namespace adallava::train {

struct VisionLayerGrads {  // accumulated into; any may be null (frozen)
  float *ln1_w, *ln1_b, *q, *q_b, *k, *k_b, *v, *v_b, *o, *o_b, *ln2_w, *ln2_b, *fc1, *fc1_b, *fc2, *fc2_b;
};
struct VisionGrads {  // any may be null (frozen)
  float *patch, *class_emb, *pos_emb, *pre_ln_w, *pre_ln_b;
  std::vector<VisionLayerGrads> layers;
};

// Weight gradients (accumulated into g) from dout (tokens, hidden), the gradient of the hidden
// state that encode(..., &trace) returned.
void vision_backward(const float* dout, const ClipVisionTower& tower, const VisionGrads& g, const ClipTrace& trace);

}  // namespace adallava::train
