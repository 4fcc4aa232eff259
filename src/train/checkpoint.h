// Saving trained parameters as a checkpoint `run` loads: the source model's config.json (with
// torch_dtype float32) and a model.safetensors of every trainable tensor in f32. The CLIP tower
// is frozen and stays where the source config points (mm_vision_tower is rewritten as an
// absolute path so the new folder works from anywhere).
#pragma once
#include <string>

#include "model/llava.h"
#include "train/ada_step.h"

namespace adallava::train {

void save_checkpoint(const std::string& dir, const LlavaModel& source, const Params& params);

}  // namespace adallava::train
