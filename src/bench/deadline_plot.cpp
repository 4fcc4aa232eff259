#include "bench/deadline_plot.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "report/svg_plot.h"
#include "tensor/error.h"

namespace adallava {

namespace {

// The load as a step line: `high` while loaded, 0 while quiet, from the harness's log lines
// "EPOCH_SECONDS LOAD"; x in seconds since t0.
PlotSeries load_steps(const std::string& log, double t0, double t_end, double high) {
  PlotSeries s{"load on", {}, {}, false, true};
  std::ifstream in(log);
  if (!in) throw Error(log + ": cannot read the load log");
  double t = 0, level = 0;
  std::string kind;
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    if (!(fields >> t >> kind)) throw Error(log + ": line '" + line + "' is not 'SECONDS LOAD'");
    const double x = std::max(0.0, t - t0);
    s.x.push_back(x), s.y.push_back(level);
    level = kind == "quiet" ? 0 : high;
    s.x.push_back(x), s.y.push_back(level);
  }
  s.x.push_back(t_end), s.y.push_back(level);
  return s;
}

}  // namespace

void plot_deadline_run(const nlohmann::json& run, const std::string& load_log, const std::string& path) {
  const double deadline = run.at("deadline_ms").get<double>();
  double t0 = 1e300, t_end = 0, top = deadline;
  for (const auto& r : run.at("results"))
    for (const auto& e : r.at("trace")) {
      t0 = std::min(t0, e[3].get<double>());
      t_end = std::max(t_end, e[3].get<double>());
      top = std::max(top, e[1].get<double>());
    }
  t_end -= t0;
  PlotSpec latency{"Latency of each request (deadline " + std::to_string(int(deadline)) + " ms)", "time (s)",
                   "latency (ms)", {}};
  PlotSpec budget{"Budget of each request", "time (s)", "budget", {}};
  for (const auto& r : run.at("results")) {
    PlotSeries l{r.at("policy").get<std::string>(), {}, {}, true, false}, b = l;
    for (const auto& e : r.at("trace")) {
      l.x.push_back(e[3].get<double>() - t0), l.y.push_back(e[1].get<double>());
      b.x.push_back(e[3].get<double>() - t0), b.y.push_back(e[2].get<double>());
    }
    latency.series.push_back(std::move(l));
    budget.series.push_back(std::move(b));
  }
  latency.series.push_back({"deadline", {0, t_end}, {deadline, deadline}, false, false});
  if (!load_log.empty()) latency.series.push_back(load_steps(load_log, t0, t_end, 0.9 * top));
  write_svg(path, latency);
  const size_t dot = path.rfind('.');
  write_svg(dot == std::string::npos ? path + "-budget" : path.substr(0, dot) + "-budget" + path.substr(dot), budget);
}

}  // namespace adallava
