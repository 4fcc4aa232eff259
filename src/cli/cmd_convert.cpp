// adallava convert: a checkpoint's float tensors in another dtype (f32, bf16, f16), e.g. to ship a
// trained model at half the size. config.json gets the new torch_dtype (AdaLLaVA rounds budgets
// in it); tokenizer, preprocessor and generation files are copied; an embedded CLIP tower comes
// along. Writes a single model.safetensors. With --out F.gguf: llama.cpp's LLaVA-1.5 pair instead
// (F.gguf and F.mmproj.gguf; llava/gguf_export.h), in f32, f16, q8_0, q4_0 or q4_k.
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "adaptive/ada_config.h"
#include "cli/common.h"
#include "llava/gguf_export.h"
#include "text/tokenizer.h"
#include "cli/commands.h"
#include "io/safetensors.h"
#include "io/safetensors_writer.h"
#include "tensor/error.h"

namespace adallava::cli {

namespace {

namespace fs = std::filesystem;

// GGUF pair: text model in `dtype`, tower and projector in f16.
void convert_to_gguf(const std::string& in, const std::string& out, std::string mmproj_out, const std::string& dtype) {
  if (dtype == "bf16") throw Error("--dtype bf16: GGUF output takes f32, f16, q8_0, q4_0 or q4_k");
  if (mmproj_out.empty()) mmproj_out = out.substr(0, out.size() - 5) + ".mmproj.gguf";
  const auto model = LlavaModel::load(in);
  const Tokenizer tokenizer = Tokenizer::load(in);
  GgufExport o;
  o.dtype = parse_weight_dtype(dtype);
  o.text_path = out;
  o.mmproj_path = mmproj_out;
  std::printf("%s\n", export_gguf(*model, tokenizer, o).c_str());
}

void convert(const std::string& in, const std::string& out, const std::string& dtype_name) {
  const DType to = dtype_name == "f32" ? DType::F32 : dtype_name == "f16" ? DType::F16 : DType::BF16;
  if (fs::exists(out) && fs::equivalent(in, out)) throw Error(out + ": --out must differ from -m");
  const TensorStore store = TensorStore::open_dir(in);
  const std::string cfg_path = (fs::path(in) / "config.json").string();
  std::ifstream cfg_in(cfg_path);
  if (!cfg_in) throw Error(cfg_path + ": not found");
  nlohmann::json cfg = nlohmann::json::parse(cfg_in, nullptr, false);
  if (!cfg.is_object()) throw Error(cfg_path + ": not a JSON object");
  cfg["torch_dtype"] = torch_dtype_name(to);
  cfg.erase("budget_dtype");  // the converted model rounds budgets in its new dtype, as the authors' code would
  if (cfg.contains("text_config") && cfg["text_config"].is_object()) cfg["text_config"]["torch_dtype"] = cfg["torch_dtype"];
  if (cfg.contains("mm_vision_tower") && cfg["mm_vision_tower"].is_string() && !cfg.contains("vision_config")) {
    const fs::path tower = fs::path(in) / cfg["mm_vision_tower"].get<std::string>();  // stays where it is
    if (fs::is_directory(tower)) cfg["mm_vision_tower"] = fs::absolute(tower).lexically_normal().string();
  }

  std::vector<std::vector<uint8_t>> buffers;  // the converted bytes, alive until written
  std::vector<TensorToWrite> tensors;
  buffers.reserve(store.records().size());
  for (const auto& [name, r] : store.records()) {
    if (!r.is_float) {  // integer tensors pass through
      tensors.push_back({name, r.dtype, r.shape, r.data});
      continue;
    }
    const size_t n = size_t(r.numel());
    std::vector<float> f(n);
    to_f32(r.dtype, r.data, f.data(), n);
    buffers.emplace_back(n * dtype_size(to));
    uint8_t* dst = buffers.back().data();
    for (size_t i = 0; i < n; ++i) {
      if (to == DType::F32) std::memcpy(dst + 4 * i, &f[i], 4);
      else {
        const uint16_t h = to == DType::BF16 ? f32_to_bf16(f[i]) : f32_to_f16(f[i]);
        std::memcpy(dst + 2 * i, &h, 2);
      }
    }
    tensors.push_back({name, to, r.shape, dst});
  }
  std::error_code ec;
  fs::create_directories(out, ec);
  if (ec) throw Error(out + ": cannot create the folder: " + ec.message());
  write_safetensors((fs::path(out) / "model.safetensors").string(), tensors);
  std::ofstream(fs::path(out) / "config.json") << cfg.dump(2) << "\n";
  for (const char* f : {"tokenizer.model", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json",
                        "preprocessor_config.json"})
    if (fs::exists(fs::path(in) / f))
      fs::copy_file(fs::path(in) / f, fs::path(out) / f, fs::copy_options::overwrite_existing);
  std::printf("wrote %s (%zu tensors, %s)\n", out.c_str(), tensors.size(), dtype_name.c_str());
}

}  // namespace

void register_convert(CLI::App& app) {
  auto in = std::make_shared<std::string>(), out = std::make_shared<std::string>();
  auto dtype = std::make_shared<std::string>("bf16"), mmproj = std::make_shared<std::string>();
  CLI::App* sub = app.add_subcommand("convert", "write a checkpoint's float tensors in another dtype");
  sub->add_option("-m,--model", *in, "model folder")->required();
  sub->add_option("--out", *out, "output folder, or F.gguf for llama.cpp's GGUF pair (F.gguf + F.mmproj.gguf)")
      ->required();
  sub->add_option("--dtype", *dtype, "f32, bf16 or f16; for GGUF: f32, f16, q8_0, q4_0 or q4_k")
      ->check(CLI::IsMember({"f32", "bf16", "f16", "q8_0", "q4_0", "q4_k"}));
  sub->add_option("--mmproj-out", *mmproj, "GGUF: where the vision tower and projector go (default F.mmproj.gguf)");
  sub->callback([=]() {
    const bool gguf = out->size() > 5 && out->compare(out->size() - 5, 5, ".gguf") == 0;
    if (gguf) return convert_to_gguf(*in, *out, *mmproj, *dtype);
    if (!mmproj->empty()) throw Error("--mmproj-out goes with a .gguf --out");
    if (dtype->rfind("q", 0) == 0) throw Error("--dtype " + *dtype + ": quantized types are written as GGUF (--out F.gguf)");
    convert(*in, *out, *dtype);
  });
}

}  // namespace adallava::cli
