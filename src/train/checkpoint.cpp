#include "train/checkpoint.h"

#include <filesystem>
#include <fstream>

#include "io/safetensors_writer.h"
#include "tensor/error.h"

namespace adallava::train {

namespace fs = std::filesystem;

void save_checkpoint(const std::string& dir, const LlavaModel& source, const Params& params) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error(dir + ": cannot create the checkpoint folder: " + ec.message());
  nlohmann::json cfg = source.config().raw;
  cfg["torch_dtype"] = "float32";
  if (cfg.contains("mm_vision_tower")) {
    const fs::path tower = fs::path(source.dir()) / cfg["mm_vision_tower"].get<std::string>();
    if (fs::is_directory(tower)) cfg["mm_vision_tower"] = fs::absolute(tower).lexically_normal().string();
  }
  {
    const std::string path = (fs::path(dir) / "config.json").string();
    std::ofstream out(path + ".tmp");
    out << cfg.dump(2) << "\n";
    out.flush();
    if (!out) throw Error(path + ": write failed");
    out.close();
    fs::rename(path + ".tmp", path, ec);
    if (ec) throw Error(path + ": " + ec.message());
  }
  // Shapes: recover them from the source checkpoint's records (the params are flat copies).
  std::vector<TensorToWrite> tensors;
  for (const auto& [name, values] : params.values) {
    std::vector<int64_t> shape = {int64_t(values.size())};
    if (const TensorRecord* r = source.find_tensor(name)) shape = r->shape;
    tensors.push_back({name, DType::F32, shape, values.data()});
  }
  write_safetensors((fs::path(dir) / "model.safetensors").string(), tensors);
}

}  // namespace adallava::train
