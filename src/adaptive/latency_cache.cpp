#include "adaptive/latency_cache.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "io/atomic_write.h"
#include "kernels/cpu_features.h"
#include "kernels/kernel_set.h"
#include "tensor/error.h"

namespace adallava {

namespace fs = std::filesystem;

namespace {

constexpr int kFormat = 1;  // bumped when Costs or the probes change meaning

// Size and modification time of the folder's weight files, so a changed checkpoint recalibrates.
nlohmann::json weight_files(const std::string& dir) {
  nlohmann::json files = nlohmann::json::object();
  std::error_code ec;
  if (dir.empty() || !fs::is_directory(dir, ec)) return files;
  for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
    if (e.path().extension() != ".safetensors" && e.path().extension() != ".gguf") continue;
    const auto time = fs::last_write_time(e.path(), ec).time_since_epoch().count();
    files[e.path().filename().string()] = {fs::file_size(e.path(), ec), int64_t(time)};
  }
  return files;
}

nlohmann::json costs_json(const Costs& k) {
  return {{"vision", k.vision},   {"layer_prefill_row", k.layer_prefill_row}, {"layer_decode", k.layer_decode},
          {"head", k.head},       {"attention_pair", k.attention_pair},       {"kv_row", k.kv_row}};
}

Costs costs_of(const nlohmann::json& j) {
  Costs k;
  k.vision = j.at("vision").get<double>();
  k.layer_prefill_row = j.at("layer_prefill_row").get<double>();
  k.layer_decode = j.at("layer_decode").get<double>();
  k.head = j.at("head").get<double>();
  k.attention_pair = j.at("attention_pair").get<double>();
  k.kv_row = j.at("kv_row").get<double>();
  for (double v : {k.vision, k.layer_prefill_row, k.layer_decode, k.head, k.attention_pair, k.kv_row})
    if (!(v >= 0) || !std::isfinite(v)) throw Error("a cost is not a finite number >= 0");
  return k;
}

}  // namespace

std::string default_cache_dir() {
  if (const char* d = std::getenv("ADALLAVA_CACHE_DIR")) return d;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return (fs::path(x) / "adallava").string();
  if (const char* h = std::getenv("HOME"); h && *h) return (fs::path(h) / ".cache" / "adallava").string();
  return "";
}

nlohmann::json calibration_key(const LlavaModel& m, Precision p, int max_threads) {
  nlohmann::json kernels = nlohmann::json::object();
  for (const auto& [op, set] : kernel_choice_fields(active_kernels())) kernels[op] = set;
  std::error_code ec;
  const fs::path dir = m.dir().empty() ? fs::path() : fs::weakly_canonical(m.dir(), ec);
  return {{"format", kFormat},
          {"model", dir.string()},
          {"config", m.config().raw},
          {"origin", m.config().path},
          {"weight_dtype", dtype_name(m.weight_dtype())},
          {"weights", weight_files(m.dir())},
          {"cpu", cpu_features().model},
          {"kernels", kernels},
          {"precision", precision_name(p)},
          {"max_threads", max_threads}};
}

std::string calibration_file(const std::string& dir, const nlohmann::json& key) {
  const std::string text = key.dump();
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a: a file name per key, not a security measure
  for (unsigned char c : text) h = (h ^ c) * 0x100000001b3ull;
  char name[40];
  std::snprintf(name, sizeof name, "latency-%016llx.json", static_cast<unsigned long long>(h));
  return (fs::path(dir) / name).string();
}

std::optional<std::vector<Costs>> read_calibration(const std::string& file, const nlohmann::json& key) {
  std::ifstream in(file);
  if (!in) return std::nullopt;
  try {
    const nlohmann::json j = nlohmann::json::parse(in);
    if (j.at("key") != key) return std::nullopt;
    std::vector<Costs> costs;
    for (const nlohmann::json& c : j.at("costs_ms")) costs.push_back(costs_of(c));
    if (int(costs.size()) != key.at("max_threads").get<int>()) return std::nullopt;
    return costs;
  } catch (const std::exception&) {  // torn or edited by hand: calibrate again
    return std::nullopt;
  }
}

void write_calibration(const std::string& file, const nlohmann::json& key, const std::vector<Costs>& costs) {
  std::error_code ec;
  fs::create_directories(fs::path(file).parent_path(), ec);
  if (ec) throw Error(fs::path(file).parent_path().string() + ": cannot create the calibration cache folder: " + ec.message());
  nlohmann::json list = nlohmann::json::array();
  for (const Costs& k : costs) list.push_back(costs_json(k));
  write_file_atomically(file, nlohmann::json{{"key", key}, {"costs_ms", list}}.dump(1) + "\n");
}

}  // namespace adallava
