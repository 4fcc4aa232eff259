// A loaded LLaVA (or AdaLLaVA) written as llama.cpp's LLaVA-1.5 pair: a text GGUF (decoder in
// the chosen type, q/k rows permuted as convert_hf_to_gguf.py does, the vocabulary) and an
// mmproj GGUF (CLIP tower and projector in f16, or f32 for an f32 export; names and conventions of llama.cpp's
// convert_image_encoder_to_gguf.py). AdaLLaVA's config goes into the text file as the key
// adallava.config and its scheduler and latency encoder into the mmproj file in f32 under
// "adallava.", so the pair loads back as AdaLLaVA and llama.cpp still loads both files (its
// text loader refuses unknown tensors).
#pragma once
#include <string>

#include "io/gguf_writer.h"
#include "llava/llava.h"
#include "text/tokenizer.h"

namespace adallava {

struct GgufExport {
  DType dtype = DType::Q8_0;  // decoder matrices: F32, F16, Q8_0, Q4_0 or Q4_K
  std::string text_path, mmproj_path;
};

// The llama.* hyperparameter keys of a text GGUF (as convert_hf_to_gguf.py writes them).
void write_llama_hparams(GgufWriter& w, const TextConfig& t);

// Returns a one-line summary (tensors and types written).
std::string export_gguf(const LlavaModel& model, const Tokenizer& tokenizer, const GgufExport& options);

}  // namespace adallava
