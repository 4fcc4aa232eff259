#include "eval/report.h"

#include <cstdio>
#include <map>
#include <set>
#include <sstream>

namespace adallava::eval {

namespace {

std::string pct(double x) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f", 100 * x);
  return b;
}

}  // namespace

nlohmann::json results_json(const std::vector<EvalResult>& results) {
  nlohmann::json arr = nlohmann::json::array();
  for (const EvalResult& r : results) {
    nlohmann::json per_kind = nlohmann::json::object();
    for (const auto& [kind, s] : r.per_kind) per_kind[kind] = {{"accuracy", s.accuracy()}, {"n", s.total}};
    nlohmann::json top = nlohmann::json::array();
    for (const auto& [plan, n] : r.top_plans) top.push_back({{"plan", plan}, {"records", n}});
    arr.push_back({{"budget", r.budget},
                   {"plan", r.plan},
                   {"accuracy", r.all.accuracy()},
                   {"n", r.all.total},
                   {"executed_fraction", r.executed_fraction},
                   {"distinct_plans", r.distinct_plans},
                   {"top_plans", top},
                   {"ms_per_record", r.ms_per_record},
                   {"token_selection", r.token_selection},
                   {"image_rows", r.image_rows},
                   {"prefill_gflops", r.prefill_gflops},
                   {"per_kind", per_kind}});
    if (r.deadline_ms) {
      nlohmann::json& j = arr.back();
      j["deadline_ms"] = *r.deadline_ms;
      j["violation_rate"] = r.violation_rate;
      j["p50_ms"] = r.p50_ms;
      j["p95_ms"] = r.p95_ms;
    }
  }
  return {{"results", arr}};
}

std::string markdown_report(const std::vector<EvalResult>& results, const std::string& title) {
  std::set<std::string> kinds;
  for (const EvalResult& r : results)
    for (const auto& [k, s] : r.per_kind) kinds.insert(k);
  std::ostringstream o;
  o << "# " << title << "\n\n";
  o << "Exact-match accuracy (%) per budget, plan policy and token selection; executed fraction of the "
       "decoder; image rows the last layer saw and the decoder's prefill GFLOPs (means); distinct plans over the "
       "records.\n\n";
  o << "| plan | selection | budget | executed fraction | image rows | prefill GFLOPs | accuracy | distinct plans |";
  for (const std::string& k : kinds) o << " " << k << " |";
  o << "\n| --- | --- | --- | --- | --- | --- | --- | --- |";
  for (size_t i = 0; i < kinds.size(); ++i) o << " --- |";
  o << "\n";
  for (const EvalResult& r : results) {
    char nums[96];
    std::snprintf(nums, sizeof nums, "%.3f | %.1f | %.4g", r.executed_fraction, r.image_rows, r.prefill_gflops);
    o << "| " << r.plan << " | " << r.token_selection << " | " << r.budget << " | " << nums << " | "
      << pct(r.all.accuracy()) << " | " << r.distinct_plans << " |";
    for (const std::string& k : kinds) {
      auto it = r.per_kind.find(k);
      o << " " << (it == r.per_kind.end() ? "" : pct(it->second.accuracy())) << " |";
    }
    o << "\n";
  }
  // With deadlines: how often each was missed and how long the records took.
  bool deadline_heading = false;
  for (const EvalResult& r : results) {
    if (!r.deadline_ms) continue;
    if (!deadline_heading)
      o << "\n| deadline ms | mean budget | missed | p50 ms | p95 ms |\n| --- | --- | --- | --- | --- |\n",
          deadline_heading = true;
    char row[160];
    std::snprintf(row, sizeof row, "| %g | %.3f | %s | %.1f | %.1f |\n", *r.deadline_ms, r.budget,
                  pct(r.violation_rate).c_str(), r.p50_ms, r.p95_ms);
    o << row;
  }
  // Where the scheduler varies its plan, which plans it used (random plans vary by design).
  bool heading = false;
  for (const EvalResult& r : results) {
    if (r.distinct_plans < 2 || r.plan == "random") continue;
    if (!heading) o << "\nMost used plans (layers that run; records):\n\n", heading = true;
    o << "- " << r.plan << (r.token_selection == "none" ? "" : ", " + r.token_selection) << " at " << r.budget << ":";
    for (size_t i = 0; i < r.top_plans.size(); ++i)
      o << (i ? "; " : " ") << r.top_plans[i].first << " (" << r.top_plans[i].second << ")";
    if (r.distinct_plans > int(r.top_plans.size())) o << "; " << r.distinct_plans - int(r.top_plans.size()) << " more";
    o << "\n";
  }
  return o.str();
}

PlotSpec accuracy_plot(const std::vector<EvalResult>& results, const std::string& title) {
  // Several token selections: the x axis is the prefill's FLOPs, which they change (as the
  // paper's Figure 5); otherwise the executed fraction of the decoder.
  bool selections = false;
  for (const EvalResult& r : results) selections |= r.token_selection != results.front().token_selection;
  PlotSpec spec{title, selections ? "decoder prefill GFLOPs" : "executed fraction of the decoder",
                "exact-match accuracy (%)", {}};
  std::map<std::string, size_t> index;
  for (const EvalResult& r : results) {
    const std::string name = selections ? r.plan + ", " + r.token_selection : r.plan;
    auto [it, fresh] = index.try_emplace(name, spec.series.size());
    if (fresh) spec.series.push_back({name, {}, {}, true, false});
    spec.series[it->second].x.push_back(selections ? r.prefill_gflops : r.executed_fraction);
    spec.series[it->second].y.push_back(100 * r.all.accuracy());
  }
  return spec;
}

}  // namespace adallava::eval
