// Models with the real shapes of published checkpoints and random weights, built in memory,
// so that speed can be measured without downloading anything.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "llava/llava.h"

namespace adallava {

// "llava-7b" (LLaVA-1.5-7B: CLIP ViT-L/14-336 + Vicuna-7B), "llava-13b", "llava-tiny", and
// "ada-" + each of them: AdaLLaVA of that shape (variant L or H; prefix = half the layers, H
// units of a quarter of a layer's heads, as the released 7B models).
ModelConfig synthetic_config(const std::string& preset, const std::string& variant = "L");
std::vector<std::string> synthetic_presets();
// Bytes the weights of this config take in dtype (to refuse what cannot fit in memory).
size_t synthetic_weight_bytes(const ModelConfig& cfg, DType dtype);
// Random weights (matrices ~ ±0.03, norm gains 1, biases 0) in the llava-hf layout.
std::unique_ptr<LlavaModel> build_synthetic_model(const ModelConfig& cfg, DType dtype, uint64_t seed);
// The decoder of cfg as a llama.cpp text GGUF: random blocks of dtype in llama.cpp's own layout
// (every matrix, embeddings and output included), f32 norms, a placeholder SentencePiece
// vocabulary. The same file then runs in llama.cpp's llama-bench and in adallava's bench.
void write_synthetic_gguf(const ModelConfig& cfg, DType dtype, const std::string& path, uint64_t seed);

}  // namespace adallava
