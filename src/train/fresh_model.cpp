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
  if (quarter == 0) throw Error("--grid-positions needs --vision-hidden of at least 4");
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

void write_fresh_llava(const std::string& out, const FreshModelShape& s, const std::string& tokenizer_model,
                       uint64_t seed) {
  if (s.hidden % s.heads != 0) throw Error("--heads must divide --hidden");
  if (s.vision_hidden % s.vision_heads != 0) throw Error("--vision-heads must divide --vision-hidden");
  if (s.image_size % s.patch != 0) throw Error("--patch must divide --image-size");
  if ((s.hidden / s.heads) % 2 != 0) throw Error("--hidden / --heads must be even (rotary embeddings)");
  if (!fs::exists(tokenizer_model)) throw Error(tokenizer_model + ": tokenizer not found");
  std::error_code ec;
  fs::create_directories(out, ec);
  if (ec) throw Error(out + ": cannot create the model folder: " + ec.message());
  fs::copy_file(tokenizer_model, fs::path(out) / "tokenizer.model", fs::copy_options::overwrite_existing, ec);
  if (ec) throw Error(out + "/tokenizer.model: " + ec.message());
  const int vocab = int(Tokenizer::load(out).vocab_size());

  const int64_t H = s.hidden, I = s.intermediate, V = vocab, C = s.vision_hidden, VI = s.vision_intermediate;
  const int64_t P = s.patch, N = (s.image_size / s.patch) * (s.image_size / s.patch) + 1;
  std::map<std::string, std::pair<std::vector<int64_t>, std::vector<float>>> t;  // name → shape, values
  std::mt19937_64 rng(seed);
  auto add = [&](const std::string& name, std::vector<int64_t> shape, double fill, bool random) {
    std::vector<float> v = init_tensor(shape, fill, 0.02, random ? &rng : nullptr);
    t[name] = {std::move(shape), std::move(v)};
  };
  add("model.embed_tokens.weight", {V, H}, 0, true);
  add("lm_head.weight", {V, H}, 0, true);
  add("model.norm.weight", {H}, 1, false);
  for (int l = 0; l < s.layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    add(p + "input_layernorm.weight", {H}, 1, false);
    add(p + "post_attention_layernorm.weight", {H}, 1, false);
    for (const char* n : {"q_proj", "k_proj", "v_proj", "o_proj"}) add(p + "self_attn." + n + ".weight", {H, H}, 0, true);
    add(p + "mlp.gate_proj.weight", {I, H}, 0, true);
    add(p + "mlp.up_proj.weight", {I, H}, 0, true);
    add(p + "mlp.down_proj.weight", {H, I}, 0, true);
  }
  add("model.mm_projector.0.weight", {H, C}, 0, true);
  add("model.mm_projector.0.bias", {H}, 0, false);
  add("model.mm_projector.2.weight", {H, H}, 0, true);
  add("model.mm_projector.2.bias", {H}, 0, false);
  const std::string v = kEmbeddedVisionPrefix;
  add(v + "embeddings.patch_embedding.weight", {C, 3, P, P}, 0, true);
  add(v + "embeddings.class_embedding", {C}, 0, true);
  add(v + "embeddings.position_embedding.weight", {N, C}, 0, true);
  if (s.grid_positions > 0) grid_position_embedding(t[v + "embeddings.position_embedding.weight"].second, s);
  add(v + "pre_layrnorm.weight", {C}, 1, false);
  add(v + "pre_layrnorm.bias", {C}, 0, false);
  for (int l = 0; l < s.vision_layers; ++l) {
    const std::string p = v + "encoder.layers." + std::to_string(l) + ".";
    for (const char* n : {"layer_norm1", "layer_norm2"}) {
      add(p + n + ".weight", {C}, 1, false);
      add(p + n + ".bias", {C}, 0, false);
    }
    for (const char* n : {"q_proj", "k_proj", "v_proj", "out_proj"}) {
      add(p + "self_attn." + n + ".weight", {C, C}, 0, true);
      add(p + "self_attn." + n + ".bias", {C}, 0, false);
    }
    add(p + "mlp.fc1.weight", {VI, C}, 0, true);
    add(p + "mlp.fc1.bias", {VI}, 0, false);
    add(p + "mlp.fc2.weight", {C, VI}, 0, true);
    add(p + "mlp.fc2.bias", {C}, 0, false);
  }
  std::vector<TensorToWrite> tensors;
  for (const auto& [name, sv] : t) tensors.push_back({name, DType::F32, sv.first, sv.second.data()});
  write_safetensors((fs::path(out) / "model.safetensors").string(), tensors);

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

}  // namespace adallava::train
