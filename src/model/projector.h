// The multimodal projector (LLaVA-1.5 "mlp2x_gelu"): Linear -> GELU -> Linear, with biases.
#pragma once
#include <string>
#include <vector>

#include "model/weights.h"

namespace adallava {

struct Projector {
  Linear l1, l2;
  std::string act = "gelu";

  // features (T, out) = l2(act(l1(x (T, in)))). pre_act, if given, receives l1's output (the
  // backward's input to act').
  std::vector<float> forward(const float* x, int64_t T, Precision p, std::vector<float>* pre_act = nullptr) const;
};

}  // namespace adallava
