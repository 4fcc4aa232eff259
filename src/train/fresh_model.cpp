#include "train/fresh_model.h"

#include <cmath>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <vector>

#include "io/atomic_write.h"
#include "io/safetensors_writer.h"
#include "llava/llava.h"
#include "tensor/error.h"
#include "text/tokenizer.h"
#include "train/weight_init.h"

namespace adallava::train {

namespace fs = std::filesystem;

// Rows 1.. of the [patches + 1, C] position embedding (row 0, the class token, keeps its draw):
// channels [0, C/2) encode the patch's grid row, [C/2, C) its column, each half as sin and cos
// pairs of frequencies from 1 down to 1/100 (as MAE's 2-D table, on a base suited to a small
// grid) of the centred coordinate, times the amplitude.
static void grid_position_embedding(std::vector<float>& table, const FreshModelShape& s) {
  const int grid = s.image_size / s.patch, C = s.vision_hidden, quarter = C / 4;
  if (quarter == 0) throw OptionError("grid_positions", "needs a vision hidden size of at least 4");
  for (int p = 0; p < grid * grid; ++p) {
    const double coord[2] = {p / grid - (grid - 1) / 2.0, p % grid - (grid - 1) / 2.0};  // row, column
    float* row = table.data() + int64_t(p + 1) * C;
    for (int axis = 0; axis < 2; ++axis)
      for (int k = 0; k < quarter; ++k) {
        const double omega = std::pow(100.0, -double(k) / quarter), a = omega * coord[axis];
        row[axis * C / 2 + k] = float(s.grid_positions * std::sin(a));
        row[axis * C / 2 + quarter + k] = float(s.grid_positions * std::cos(a));
      }
  }
}

namespace {

void check_shape(const FreshModelShape& s) {
  auto divides = [](int a, int b) { return a > 0 && b % a == 0; };
  if (!divides(s.heads, s.hidden))
    throw OptionError("heads", std::to_string(s.heads) + " does not divide the hidden size " + std::to_string(s.hidden));
  if (!divides(s.vision_heads, s.vision_hidden))
    throw OptionError("vision_heads", std::to_string(s.vision_heads) + " does not divide the vision hidden size " +
                                          std::to_string(s.vision_hidden));
  if (!divides(s.patch, s.image_size))
    throw OptionError("patch",
                      std::to_string(s.patch) + " does not divide the image size " + std::to_string(s.image_size));
  if ((s.hidden / s.heads) % 2 != 0)
    throw OptionError("heads", "the head size (hidden / heads) must be even (rotary embeddings)");
}

// Every tensor at its initial value (random ones drawn in the specs' order from seed).
void write_weights(const std::string& out, const FreshModelShape& s, int vocab, uint64_t seed) {
  TextConfig text;
  text.hidden_size = s.hidden, text.intermediate_size = s.intermediate, text.num_layers = s.layers;
  text.num_heads = text.num_kv_heads = s.heads, text.head_dim = s.hidden / s.heads, text.vocab_size = vocab;
  VisionConfig vision;
  vision.hidden_size = s.vision_hidden, vision.intermediate_size = s.vision_intermediate;
  vision.patch_size = s.patch, vision.image_size = s.image_size;
  std::map<std::string, std::pair<std::vector<int64_t>, std::vector<float>>> t;  // name → shape, values
  std::mt19937_64 rng(seed);  // drawn in the specs' order
  for (names::TensorSpec& spec : names::llava_tensors(text, vision, s.vision_layers, Layout::OriginalLlava, 0, 0)) {
    const bool random = spec.init == names::TensorSpec::Init::Random;
    std::vector<float> v = init_tensor(spec.shape, spec.init == names::TensorSpec::Init::Ones ? 1 : 0, 0.02,
                                       random ? &rng : nullptr);
    t[spec.name] = {std::move(spec.shape), std::move(v)};
  }
  const std::string positions = kEmbeddedVisionPrefix + std::string(names::kPositions);
  if (s.grid_positions > 0) grid_position_embedding(t[positions].second, s);
  std::vector<TensorToWrite> tensors;
  for (const auto& [name, sv] : t) tensors.push_back({name, DType::F32, sv.first, sv.second.data()});
  write_safetensors((fs::path(out) / "model.safetensors").string(), tensors);
}

// config.json: an original-layout LLaVA with its tower embedded (vision_config).
void write_config(const std::string& out, const FreshModelShape& s, int vocab) {
  const nlohmann::json cfg = {
      {"architectures", {"LlavaLlamaForCausalLM"}},
      {"model_type", "llava_llama"},
      {"hidden_size", s.hidden},
      {"intermediate_size", s.intermediate},
      {"num_hidden_layers", s.layers},
      {"num_attention_heads", s.heads},
      {"num_key_value_heads", s.heads},
      {"vocab_size", vocab},
      {"max_position_embeddings", s.max_positions},
      {"rms_norm_eps", 1e-5},
      {"rope_theta", 10000.0},
      {"hidden_act", "silu"},
      {"initializer_range", 0.02},
      {"bos_token_id", 1},
      {"eos_token_id", 2},
      {"tie_word_embeddings", false},
      {"torch_dtype", "float32"},
      {"mm_vision_tower", "embedded"},  // the tower is in this checkpoint (see vision_config)
      {"mm_hidden_size", s.vision_hidden},
      {"mm_projector_type", "mlp2x_gelu"},
      {"mm_vision_select_layer", -1},
      {"mm_vision_select_feature", "patch"},
      {"mm_patch_merge_type", "flat"},
      {"image_aspect_ratio", "pad"},
      {"mm_use_im_start_end", false},
      {"mm_use_im_patch_token", false},
      {"tokenizer_model_max_length", s.max_positions},
      {"tokenizer_padding_side", "right"},
      {"vision_config",
       {{"model_type", "clip_vision_model"},
        {"hidden_size", s.vision_hidden},
        {"intermediate_size", s.vision_intermediate},
        {"num_hidden_layers", s.vision_layers},
        {"num_attention_heads", s.vision_heads},
        {"num_channels", 3},
        {"image_size", s.image_size},
        {"patch_size", s.patch},
        {"layer_norm_eps", 1e-5},
        {"hidden_act", "quick_gelu"}}}};
  write_file_atomically((fs::path(out) / "config.json").string(), cfg.dump(2) + "\n");
}

// preprocessor_config.json: CLIP's preprocessing at the model's image size.
void write_preprocessor(const std::string& out, const FreshModelShape& s) {
  const nlohmann::json pre = {{"crop_size", {{"height", s.image_size}, {"width", s.image_size}}},
                              {"do_center_crop", true},
                              {"do_convert_rgb", true},
                              {"do_normalize", true},
                              {"do_rescale", true},
                              {"do_resize", true},
                              {"image_mean", {0.48145466, 0.4578275, 0.40821073}},
                              {"image_processor_type", "CLIPImageProcessor"},
                              {"image_std", {0.26862954, 0.26130258, 0.27577711}},
                              {"resample", 3},
                              {"rescale_factor", 1.0 / 255},
                              {"size", {{"shortest_edge", s.image_size}}}};
  write_file_atomically((fs::path(out) / "preprocessor_config.json").string(), pre.dump(2) + "\n");
}

}  // namespace

void write_fresh_llava(const std::string& out, const FreshModelShape& s, const std::string& tokenizer_model,
                       uint64_t seed) {
  check_shape(s);
  if (!fs::exists(tokenizer_model)) throw Error(tokenizer_model + ": tokenizer not found");
  std::error_code ec;
  fs::create_directories(out, ec);
  if (ec) throw Error(out + ": cannot create the model folder: " + ec.message());
  fs::copy_file(tokenizer_model, fs::path(out) / "tokenizer.model", fs::copy_options::overwrite_existing, ec);
  if (ec) throw Error(out + "/tokenizer.model: " + ec.message());
  const int vocab = int(Tokenizer::load(out).vocab_size());
  write_weights(out, s, vocab, seed);
  write_config(out, s, vocab);
  write_preprocessor(out, s);
}

}  // namespace adallava::train
