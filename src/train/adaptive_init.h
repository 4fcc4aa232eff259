// Turning a plain LLaVA checkpoint into an AdaLLaVA one (train --variant L|H): the config gains
// the authors' fields (model_type ada_llava_llama, num_prefix_layers, scheduler_type,
// scheduler_rank, token_selecting none) and the params gain a latency encoder and a scheduler
// head, initialised as the authors' HF `_init_weights` does (spec §7): Linear weights
// N(0, initializer_range = 0.02), biases 0, LayerNorm weight 1 and bias 0.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "llava/llava.h"
#include "train/ada_step.h"

namespace adallava::train {

struct AdaptiveInit {
  std::string variant;  // "L" or "H"
  int prefix = -1;      // layers always run; -1: half of them
  int rank = 8;         // H: heads and MLP groups picked together per step
  uint64_t seed = 0;
};

// Returns the new config.json (validated as an AdaLLaVA config) and adds the new tensors to params.
nlohmann::json make_adaptive(const LlavaModel& plain, Params& params, const AdaptiveInit& init);

}  // namespace adallava::train
