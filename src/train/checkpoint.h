// Saving trained parameters as a checkpoint `run` loads: the source model's config.json (or the
// one given, with torch_dtype float32) and a model.safetensors of every param in f32. When the
// params hold the vision tower the folder is self-contained (tower tensors, vision_config and
// preprocessor_config.json); otherwise the tower stays where the source config points
// (mm_vision_tower is rewritten as an absolute path so the new folder works from anywhere).
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "llava/llava.h"
#include "train/ada_step.h"

namespace adallava::train {

void save_checkpoint(const std::string& dir, const LlavaModel& source, const Params& params,
                     const nlohmann::json* config = nullptr);

}  // namespace adallava::train
