// The multimodal projector (LLaVA-1.5 "mlp2x_gelu"): Linear -> GELU -> Linear, with biases.
#pragma once
#include <string>
#include <vector>

#include "model/weights.h"

namespace adallava {

struct Projector {
  Linear l1, l2;
  std::string act = "gelu";

  // features (T, out) = l2(act(l1(x (T, in))))
  std::vector<float> forward(const float* x, int64_t T, Precision p) const;
};

}  // namespace adallava
