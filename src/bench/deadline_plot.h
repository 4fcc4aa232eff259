// The deadline benchmark as two SVG charts over the run's time: each request's latency per
// policy with the deadline and, from the contention harness's log, when the load was on; and
// the budget each request ran at.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace adallava {

// run: bench_deadline's result. load_log: bench/contention.sh --log (empty: none). Writes
// path (latency) and path with "-budget" before its extension.
void plot_deadline_run(const nlohmann::json& run, const std::string& load_log, const std::string& path);

}  // namespace adallava
