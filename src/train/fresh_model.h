// A new LLaVA with random weights, the starting point of training from scratch (`adallava
// init`): original LLaVA layout, self-contained (the CLIP-style tower inside the checkpoint,
// its vision_config in config.json, a preprocessor_config.json), the tokenizer copied in and
// its vocabulary sized to it. Initialised as transformers does: Linear and embedding weights
// N(0, 0.02), biases 0, norm weights 1 (the vision position embedding optionally 2-D sine-cosine).
#pragma once
#include <cstdint>
#include <string>

namespace adallava::train {

struct FreshModelShape {
  int hidden = 192, intermediate = 512, layers = 8, heads = 6;       // LLaMA decoder
  int vision_hidden = 128, vision_intermediate = 512, vision_layers = 4, vision_heads = 4;
  int image_size = 96, patch = 12;
  int max_positions = 512;
  // Vision position embedding: 0 draws it N(0, 0.02) as transformers does; above 0, each patch's
  // row and column as 2-D sine-cosine features of this amplitude (half the channels each), so
  // that where an object is can be read from the start (at 0.02 it is ~50x quieter than a
  // patch's content and spatial questions stayed at chance).
  double grid_positions = 0;
};

// Writes config.json, model.safetensors, preprocessor_config.json and tokenizer.model into out.
void write_fresh_llava(const std::string& out, const FreshModelShape& shape, const std::string& tokenizer_model,
                       uint64_t seed);

}  // namespace adallava::train
