#include "train/checkpoint.h"

#include <filesystem>

#include "adaptive/ada_config.h"
#include "io/atomic_write.h"
#include "io/safetensors_writer.h"
#include "tensor/error.h"

namespace adallava::train {

namespace fs = std::filesystem;

void save_checkpoint(const std::string& dir, const LlavaModel& source, const Params& params,
                     const nlohmann::json* config) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error(dir + ": cannot create the checkpoint folder: " + ec.message());
  nlohmann::json cfg = config ? *config : source.config().raw;
  cfg["torch_dtype"] = "float32";
  if (const AdaLlavaParts* a = source.adaptive()) cfg["budget_dtype"] = torch_dtype_name(a->config.budget_dtype);
  if (params.has_vision()) {  // self-contained: the tower's config beside its tensors (see llava.h)
    const VisionConfig& v = source.config().vision;
    cfg["vision_config"] = {{"model_type", "clip_vision_model"},
                            {"hidden_size", v.hidden_size},
                            {"intermediate_size", v.intermediate_size},
                            {"num_hidden_layers", v.num_layers},
                            {"num_attention_heads", v.num_heads},
                            {"num_channels", v.num_channels},
                            {"image_size", v.image_size},
                            {"patch_size", v.patch_size},
                            {"layer_norm_eps", v.layer_norm_eps},
                            {"hidden_act", v.hidden_act}};
    const fs::path pre = fs::path(source.vision_dir()) / "preprocessor_config.json";
    if (fs::exists(pre) && !fs::equivalent(fs::path(source.vision_dir()), fs::path(dir)))
      fs::copy_file(pre, fs::path(dir) / "preprocessor_config.json", fs::copy_options::overwrite_existing);
  } else if (cfg.contains("mm_vision_tower")) {  // the tower stays where it is
    const fs::path tower = fs::path(source.dir()) / cfg["mm_vision_tower"].get<std::string>();
    if (fs::is_directory(tower)) cfg["mm_vision_tower"] = fs::absolute(tower).lexically_normal().string();
  }
  write_file_atomically((fs::path(dir) / "config.json").string(), cfg.dump(2) + "\n");
  std::vector<TensorToWrite> tensors;
  for (const auto& [name, values] : params.values) tensors.push_back({name, DType::F32, params.shapes.at(name), values.data()});
  write_safetensors((fs::path(dir) / "model.safetensors").string(), tensors);
}

}  // namespace adallava::train
