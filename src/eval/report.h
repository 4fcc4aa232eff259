// The evaluation as a markdown table and a plot of accuracy against executed fraction (one
// series per plan policy), and as the JSON `adallava eval --json` prints.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "eval/vqa_eval.h"
#include "report/svg_plot.h"

namespace adallava::eval {

nlohmann::json results_json(const std::vector<EvalResult>& results);
std::string markdown_report(const std::vector<EvalResult>& results, const std::string& title);
PlotSpec accuracy_plot(const std::vector<EvalResult>& results, const std::string& title);

}  // namespace adallava::eval
