// What training trains: f32 copies of the model's tensors, by their original-LLaVA-layout
// checkpoint names (model/tensor_names), whatever the layout the model was loaded from;
// checkpoints are saved in that layout.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "llava/llava.h"

namespace adallava::train {

using Grads = std::map<std::string, std::vector<float>>;  // by checkpoint name

// The vision tower is here, under kEmbeddedVisionPrefix, when it trains or when the checkpoint
// carries it (so that a saved checkpoint carries it too).
struct Params {
  std::map<std::string, std::vector<float>> values;
  std::map<std::string, std::vector<int64_t>> shapes;
  bool train_vision = false;  // the step runs the tower from these values and computes its gradients
  static Params from_model(const LlavaModel& m, bool train_vision = false);
  bool has_vision() const;
  const float* at(const std::string& name) const;
  float* at(const std::string& name);
  std::map<std::string, std::vector<float>> zeros_like() const;
};

// Checkpoint names of what training trains: the original layout's.
const names::LayoutNames& train_names();

}  // namespace adallava::train
