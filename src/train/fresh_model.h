// A new LLaVA with random weights, the starting point of training from scratch (`adallava
// init`): original LLaVA layout, self-contained (the CLIP-style tower inside the checkpoint,
// its vision_config in config.json, a preprocessor_config.json), the tokenizer copied in and
// its vocabulary sized to it. Initialised as transformers does: Linear and embedding weights
// N(0, 0.02), biases 0, norm weights 1.
#pragma once
#include <cstdint>
#include <string>

namespace adallava::train {

struct FreshModelShape {
  int hidden = 192, intermediate = 512, layers = 8, heads = 6;       // LLaMA decoder
  int vision_hidden = 128, vision_intermediate = 512, vision_layers = 4, vision_heads = 4;
  int image_size = 96, patch = 12;
  int max_positions = 512;
};

// Writes config.json, model.safetensors, preprocessor_config.json and tokenizer.model into out.
void write_fresh_llava(const std::string& out, const FreshModelShape& shape, const std::string& tokenizer_model,
                       uint64_t seed);

}  // namespace adallava::train
