// A calibration kept on disk, so a process that loads a model this machine has calibrated
// before starts with its costs at once (a 7B calibration takes seconds). The file is keyed by
// what the costs depend on: the model (its config, weight dtype, folder and weight files' size
// and time), the CPU, the kernels chosen per operation, the precision and the thread counts. A
// file of another key, or one that does not parse, is ignored and replaced.
#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "adaptive/latency_model.h"

namespace adallava {

// $ADALLAVA_CACHE_DIR, else $XDG_CACHE_HOME/adallava, else $HOME/.cache/adallava ("" if none).
std::string default_cache_dir();

// What a calibration of m depends on.
nlohmann::json calibration_key(const LlavaModel& m, Precision p, int max_threads);

// The file in dir for a key.
std::string calibration_file(const std::string& dir, const nlohmann::json& key);

// Costs per thread count (1 .. max_threads) from the file, when it holds this key.
std::optional<std::vector<Costs>> read_calibration(const std::string& file, const nlohmann::json& key);

// Throws Error naming the file when it cannot be written.
void write_calibration(const std::string& file, const nlohmann::json& key, const std::vector<Costs>& costs);

}  // namespace adallava
