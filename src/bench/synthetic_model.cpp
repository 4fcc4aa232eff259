#include "bench/synthetic_model.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>

#include "adaptive/ada_config.h"
#include "adaptive/latency_encoder.h"
#include "io/gguf_writer.h"
#include "llava/gguf_export.h"
#include "model/interleave_weights.h"
#include "model/tensor_names.h"
#include "tensor/quant.h"
#include "tensor/error.h"

namespace adallava {

namespace {

using names::TensorSpec;

std::vector<TensorSpec> tensor_specs(const ModelConfig& c) {
  const int outputs = c.model_type == "ada_llava_llama" ? parse_ada_config(c).head_outputs(c.text.num_heads) : 0;
  // The blocks the selected state needs, and the one after it (PruMerge reads the last layer's Q and K).
  const int used = std::min(c.vision.num_layers, c.vision.num_layers + 2 + c.vision_feature_layer);
  return names::llava_tensors(c.text, c.vision, used, Layout::HfLlava, outputs, kLatencyEncodingDim);
}

int64_t numel(const std::vector<int64_t>& s) {
  int64_t n = 1;
  for (auto d : s) n *= d;
  return n;
}

uint64_t splitmix(uint64_t& s) {
  uint64_t z = (s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Random values of magnitude 2^-8 .. 2^-5 with random sign, as float bits.
float random_weight(uint64_t r) {
  uint32_t bits = uint32_t(r & 0x80000000u) | (uint32_t(119 + (r >> 40) % 3) << 23) | (uint32_t(r >> 8) & 0x7fffffu);
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// Random blocks of a quantized type with scales that give values of about ±2^-6, as
// random_weight: quantizing billions of floats would take the benchmark longer than it runs.
ByteBuffer make_quantized(const TensorSpec& s, DType dtype, uint64_t seed) {
  const int64_t n = numel(s.shape);
  ByteBuffer bytes(row_bytes(dtype, n));
  const int64_t lanes = rows_per_group(dtype);  // an interleaved block holds four rows' scales first
  const size_t bb = block_bytes(dtype) * size_t(lanes), blocks = bytes.size() / bb;
  const uint16_t d8 = f32_to_f16(1.f / 127 / 48), d4 = f32_to_f16(1.f / 8 / 48), dk = f32_to_f16(1.f / 32 / 48 / 16);
#pragma omp parallel for schedule(static)
  for (int64_t chunk = 0; chunk < int64_t((blocks + 4095) / 4096); ++chunk) {
    uint64_t state = seed ^ (uint64_t(chunk) * 0x2545f4914f6cdd1dull);
    for (size_t b = size_t(chunk) * 4096; b < std::min(blocks, size_t(chunk + 1) * 4096); ++b) {
      uint8_t* p = bytes.data() + b * bb;
      for (size_t i = 0; i < bb; i += 8) {
        const uint64_t r = splitmix(state);
        std::memcpy(p + i, &r, std::min<size_t>(8, bb - i));
      }
      switch (dtype) {
        case DType::Q8_0: case DType::Q8_0_R4:
          for (int64_t l = 0; l < lanes; ++l) std::memcpy(p + 2 * l, &d8, 2);
          break;
        case DType::Q6_K: std::memcpy(p + 208, &dk, 2); break;
        case DType::Q4_K: std::memcpy(p, &dk, 2), std::memcpy(p + 2, &dk, 2); break;
        default:
          for (int64_t l = 0; l < lanes; ++l) std::memcpy(p + 2 * l, &d4, 2);
          break;
      }
    }
  }
  return bytes;
}

// A quantized model keeps the decoder's matrices (and embeddings, lm_head) in the quantized
// type, the vision tower and projector in bf16, AdaLLaVA's scheduler and every vector in f32.
DType dtype_of(const TensorSpec& s, DType dtype) {
  if (!is_quantized(dtype)) return dtype;
  const bool decoder = s.name.rfind("language_model.", 0) == 0;
  const bool embeddings = s.name.find(names::kEmbed) != std::string::npos;  // rows looked up: plain
  if (decoder && s.shape.size() == 2 && s.shape[1] % block_elems(dtype) == 0)
    return !embeddings && interleaves(dtype, s.shape) ? interleaved_type(dtype) : dtype;
  const bool vision = s.name.rfind("vision_tower.", 0) == 0 || s.name.rfind("multi_modal_projector.", 0) == 0;
  return vision && s.shape.size() >= 2 ? DType::BF16 : DType::F32;
}

ByteBuffer make_bytes(const TensorSpec& s, DType dtype, uint64_t seed) {
  if (is_quantized(dtype)) return make_quantized(s, dtype, seed);
  const int64_t n = numel(s.shape);
  ByteBuffer bytes(size_t(n) * dtype_size(dtype));  // every byte is written below
  const float constant = s.init == TensorSpec::Init::Ones ? 1.f : 0.f;
#pragma omp parallel
  {
    // Chunks of 1M elements, each seeded from its index, so the weights do not depend on threads.
#pragma omp for schedule(static)
    for (int64_t chunk = 0; chunk < (n + (1 << 20) - 1) >> 20; ++chunk) {
      uint64_t state = seed ^ (uint64_t(chunk) * 0x2545f4914f6cdd1dull);
      const int64_t end = std::min<int64_t>(n, (chunk + 1) << 20);
      int64_t i = chunk << 20;
      if (dtype == DType::BF16 && s.init == TensorSpec::Init::Random) {  // fast path: 4 values per draw
        auto* out = reinterpret_cast<uint16_t*>(bytes.data());
        for (; i + 4 <= end; i += 4) {
          uint64_t r = splitmix(state);
          for (int j = 0; j < 4; ++j, r >>= 16) {
            const uint16_t b = uint16_t(r);  // sign, exponent 119..121 (2^-8..2^-6), 7 mantissa bits
            out[i + j] = uint16_t((b & 0x8000u) | (uint32_t(119 + (b >> 7) % 3) << 7) | (b & 0x7fu));
          }
        }
      }
      for (; i < end; ++i) {
        float v = s.init == TensorSpec::Init::Random ? random_weight(splitmix(state)) : constant;
        if (dtype == DType::F32) std::memcpy(bytes.data() + i * 4, &v, 4);
        else {
          uint16_t h = dtype == DType::BF16 ? f32_to_bf16(v) : f32_to_f16(v);
          std::memcpy(bytes.data() + i * 2, &h, 2);
        }
      }
    }
  }
  return bytes;
}

}  // namespace

std::vector<std::string> synthetic_presets() {
  return {"llava-7b",     "llava-13b",     "llava-mini",     "llava-small",     "llava-tiny",
          "ada-llava-7b", "ada-llava-13b", "ada-llava-mini", "ada-llava-small", "ada-llava-tiny"};
}

ModelConfig synthetic_config(const std::string& preset_name, const std::string& variant) {
  // ada-* presets: the same shapes plus AdaLLaVA's scheduler, prefix = half the layers.
  const bool ada = preset_name.rfind("ada-", 0) == 0;
  const std::string preset = ada ? preset_name.substr(4) : preset_name;
  ModelConfig c;
  c.model_type = "llava";
  c.path = "synthetic:" + preset;
  c.layout = Layout::HfLlava;
  c.has_vision = true;
  c.image_token_id = 32000;
  c.text.rms_norm_eps = 1e-5f;
  c.text.vocab_size = 32064;
  c.text.max_position_embeddings = 4096;
  c.vision = VisionConfig{1024, 4096, 24, 16, 3, 336, 14, 1e-5f, "quick_gelu"};  // CLIP ViT-L/14-336
  if (preset == "llava-7b") {
    c.text.hidden_size = 4096, c.text.intermediate_size = 11008, c.text.num_layers = 32;
    c.text.num_heads = c.text.num_kv_heads = 32;
  } else if (preset == "llava-13b") {
    c.text.hidden_size = 5120, c.text.intermediate_size = 13824, c.text.num_layers = 40;
    c.text.num_heads = c.text.num_kv_heads = 40;
  } else if (preset == "llava-mini") {  // a whole request in about a second on 2 vCPUs: deadline runs
    c.text.hidden_size = 1024, c.text.intermediate_size = 2816, c.text.num_layers = 16;
    c.text.num_heads = c.text.num_kv_heads = 16;
    c.vision = VisionConfig{768, 3072, 12, 12, 3, 224, 32, 1e-5f, "quick_gelu"};  // CLIP ViT-B/32
  } else if (preset == "llava-small") {  // the size of the model this project trains and ships
    c.text.hidden_size = 192, c.text.intermediate_size = 512, c.text.num_layers = 8;
    c.text.num_heads = c.text.num_kv_heads = 6;
    c.text.vocab_size = 640;
    c.vision = VisionConfig{128, 512, 4, 4, 3, 96, 12, 1e-5f, "quick_gelu"};
    c.vision_feature_layer = -1;
    c.image_token_id = 639;
  } else if (preset == "llava-tiny") {
    c.text.hidden_size = 256, c.text.intermediate_size = 688, c.text.num_layers = 4;
    c.text.num_heads = c.text.num_kv_heads = 4;
    c.text.vocab_size = 1024;
    c.vision = VisionConfig{128, 512, 3, 4, 3, 112, 14, 1e-5f, "quick_gelu"};
    c.image_token_id = 1000;
  } else {
    throw Error("unknown synthetic preset '" + preset_name +
                "' (llava-7b, llava-13b, llava-mini, llava-small, llava-tiny, or ada- + one of them)");
  }
  if (ada) {
    if (variant != "L" && variant != "H") throw OptionError("variant", "'" + variant + "' is not L or H");
    c.model_type = "ada_llava_llama";
    c.raw = {{"num_prefix_layers", c.text.num_layers / 2}, {"scheduler_type", variant},
             {"scheduler_rank", c.text.num_heads >= 32 ? 8 : std::max(1, c.text.num_heads / 4)}, {"token_selecting", "none"}};
  }
  c.text.head_dim = c.text.hidden_size / c.text.num_heads;
  c.mm_hidden_size = c.vision.hidden_size;
  return c;
}

size_t synthetic_weight_bytes(const ModelConfig& cfg, DType dtype) {
  size_t n = 0;
  for (const TensorSpec& s : tensor_specs(cfg)) n += row_bytes(dtype_of(s, dtype), numel(s.shape));
  return n;
}

std::unique_ptr<LlavaModel> build_synthetic_model(const ModelConfig& cfg, DType dtype, uint64_t seed) {
  auto store = std::make_unique<TensorStore>();
  store->set_origin(cfg.path);
  uint64_t i = 0;
  for (const TensorSpec& s : tensor_specs(cfg)) {
    const DType t = dtype_of(s, dtype);
    store->add_owned(s.name, t, s.shape, make_bytes(s, t, seed + 7919 * ++i));
  }
  PreprocessConfig pre;
  pre.shortest_edge = pre.crop_height = pre.crop_width = cfg.vision.image_size;
  return LlavaModel::from_store(cfg, std::move(store), pre);
}

void write_synthetic_gguf(const ModelConfig& cfg, DType dtype, const std::string& path, uint64_t seed) {
  const TextConfig& t = cfg.text;
  GgufWriter w;
  w.add_string("general.architecture", "llama");
  w.add_string("general.name", "adallava synthetic " + cfg.path);
  w.add_u32("general.quantization_version", 2);
  write_llama_hparams(w, t);
  // <unk>, <s>, </s>, the 256 byte pieces, then placeholder words.
  std::vector<std::string> tokens = {"<unk>", "<s>", "</s>"};
  std::vector<float> scores = {0.f, 0.f, 0.f};
  std::vector<int32_t> types = {2, 3, 3};
  for (int b = 0; b < 256; ++b) {
    char piece[8];
    std::snprintf(piece, sizeof piece, "<0x%02X>", b);
    tokens.push_back(piece), scores.push_back(0.f), types.push_back(6);
  }
  for (int64_t i = int64_t(tokens.size()); i < t.vocab_size; ++i)
    tokens.push_back("\xE2\x96\x81w" + std::to_string(i)), scores.push_back(-float(i)), types.push_back(1);
  w.add_string("tokenizer.ggml.model", "llama");
  w.add_strings("tokenizer.ggml.tokens", tokens);
  w.add_f32s("tokenizer.ggml.scores", scores);
  w.add_i32s("tokenizer.ggml.token_type", types);
  w.add_u32("tokenizer.ggml.bos_token_id", 1);
  w.add_u32("tokenizer.ggml.eos_token_id", 2);
  w.add_u32("tokenizer.ggml.unknown_token_id", 0);
  const names::LayoutNames n = names::layout_names(Layout::HfLlava);
  std::map<std::string, TensorSpec> specs;
  for (const TensorSpec& s : tensor_specs(cfg)) specs[s.name] = s;
  uint64_t i = 0;
  for (const std::string& g : names::gguf_text_names(t.num_layers, false)) {
    const TensorSpec& s = specs.at(*names::hf_name_of_gguf(g, n));
    const DType type = s.shape.size() == 2 ? dtype : DType::F32;
    w.add_tensor(g, type, s.shape, make_bytes(s, type, seed + 7919 * ++i));
  }
  w.write(path);
}

}  // namespace adallava
