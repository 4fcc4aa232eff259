// adallava eval: exact-match accuracy of a checkpoint on short-answer VQA data, per budget,
// plan policy and question kind, or per deadline in ms; optionally a markdown report and a plot.
#include <omp.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "adaptive/budget.h"
#include "adaptive/deadline.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "eval/report.h"
#include "io/atomic_write.h"
#include "eval/vqa_eval.h"
#include "tensor/error.h"

namespace adallava::cli {

namespace {

struct EvalCliOptions {
  ModelOptions model;
  std::string data, images, budgets, plans, layers, report, deadlines;
  std::vector<std::string> selections;
  int limit = 0;
  uint64_t seed = 0;
  bool json = false;
};

std::vector<std::string> split(const std::string& s, char sep = ',') {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, sep)) out.push_back(item);
  return out;
}

void run_eval(const EvalCliOptions& o) {
  eval::EvalOptions e;
  if (!o.deadlines.empty()) {
    if (!o.budgets.empty() || !o.plans.empty() || !o.layers.empty())
      throw Error("--deadline-ms picks each record's budget and plan: give it without --budgets, --plan or --layers");
    for (const std::string& d : split(o.deadlines)) e.deadlines_ms.push_back(parse_deadline_ms(d, "--deadline-ms element"));
    if (e.deadlines_ms.empty()) throw Error("--deadline-ms is empty");
  }
  e.budgets.clear();
  for (const std::string& b : split(o.budgets.empty() ? "1" : o.budgets)) e.budgets.push_back(parse_budget(b, "--budgets element"));
  if (e.budgets.empty()) throw Error("--budgets is empty");
  // Without --plan: the scheduler, unless --layers names the plans.
  e.plans = o.plans.empty() && o.layers.empty() ? std::vector<std::string>{"scheduler"} : split(o.plans);
  for (const std::string& p : e.plans)
    if (p != "scheduler" && p != "early-exit" && p != "random")
      throw Error("--plan '" + p + "' is not scheduler, early-exit or random");
  for (const std::string& l : split(o.layers, ';')) e.plans.push_back(l);
  if (e.plans.empty()) throw Error("--plan is empty");
  e.seed = o.seed;
  const auto engine = o.model.load_engine();
  const LlavaModel* model = &engine->model();
  e.precision = engine->precision();
  std::vector<data::Record> records = data::load_llava_json(o.data);
  if (o.limit > 0 && size_t(o.limit) < records.size()) records.resize(size_t(o.limit));
  std::vector<std::optional<TokenSelection>> selections;
  for (const std::string& s : o.selections) selections.push_back(PlanOptions::parse_token_selection(s));
  if (selections.empty()) selections.push_back(std::nullopt);  // the checkpoint's
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<eval::EvalResult> results;
  for (const auto& s : selections) {
    e.token_selection = s;
    for (eval::EvalResult& r : eval::evaluate(*engine, records, o.images, e)) results.push_back(std::move(r));
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!o.report.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(o.report, ec);
    if (ec) throw Error(o.report + ": cannot create the report folder: " + ec.message());
    const std::string title = std::filesystem::path(model->dir()).filename().string() + " on " +
                              std::filesystem::path(o.data).filename().string() + " (" +
                              std::to_string(records.size()) + " records)";
    const std::string md = (std::filesystem::path(o.report) / "report.md").string();
    write_file_atomically(md, eval::markdown_report(results, title) + "\n![accuracy per budget](accuracy.svg)\n");
    write_svg((std::filesystem::path(o.report) / "accuracy.svg").string(), eval::accuracy_plot(results, title));
  }
  if (o.json) {
    nlohmann::json j = eval::results_json(results);
    j["records"] = records.size();
    j["seconds"] = seconds;
    std::printf("%s\n", j.dump().c_str());
    return;
  }
  if (!e.deadlines_ms.empty()) std::printf("%11s %7s %6s %7s ", "deadline ms", "missed", "p50 ms", "p95 ms");
  std::printf("%-11s %-13s %6s %9s %7s %9s %9s %7s\n", "plan", "selection", "budget", "fraction", "image", "GFLOPs",
              "accuracy", "plans");
  for (const eval::EvalResult& r : results) {
    if (r.deadline_ms)
      std::printf("%11g %6.1f%% %6.1f %7.1f ", *r.deadline_ms, 100 * r.violation_rate, r.p50_ms, r.p95_ms);
    std::printf("%-11s %-13s %6.3g %9.3f %7.1f %9.4g %8.1f%% %7d  ", r.plan.c_str(), r.token_selection.c_str(),
                r.budget, r.executed_fraction, r.image_rows, r.prefill_gflops, 100 * r.all.accuracy(),
                r.distinct_plans);
    for (const auto& [kind, s] : r.per_kind) std::printf(" %s %.0f%%", kind.c_str(), 100 * s.accuracy());
    std::printf("\n");
  }
  std::printf("(%zu records, %.1f s)\n", records.size(), seconds);
}

}  // namespace

void register_eval(CLI::App& app) {
  auto o = std::make_shared<EvalCliOptions>();
  CLI::App* sub = app.add_subcommand("eval", "exact-match VQA accuracy per budget, plan policy and question kind");
  o->model.add_to(*sub);
  sub->add_option("--data", o->data, "LLaVA JSON records (the first question and answer of each)")->required();
  sub->add_option("--images", o->images, "folder of the records' images")->required();
  sub->add_option("--budgets", o->budgets, "comma-separated budgets (default 1)");
  sub->add_option("--plan", o->plans, "comma-separated plan policies: scheduler (default), early-exit, random");
  sub->add_option("--layers", o->layers,
                  "explicit plans, each a comma-separated list of the layers that run, ';' between plans "
                  "(any checkpoint; with --plan as well, both are evaluated)");
  sub->add_option("--deadline-ms", o->deadlines,
                  "comma-separated deadlines: each record a whole request (encode, prefill, decode) within D ms, "
                  "one at a time, the engine picking its budget; reports misses and latency per deadline");
  sub->add_option("--token-selection", o->selections,
                  "image tokens, one run each: none, prumerge, prumerge+, fastv, fastv:K,R (several: space separated; "
                  "default: the checkpoint's)");
  sub->add_option("--limit", o->limit, "evaluate the first N records only")->check(CLI::Range(1, 1 << 30));
  sub->add_option("--seed", o->seed, "seed of the random plans (record i uses seed + i)");
  sub->add_option("--report", o->report, "folder for report.md and accuracy.svg");
  sub->add_flag("--json", o->json, "one JSON object: {\"results\": [{budget, plan, accuracy, ...}]}");
  sub->callback([o]() { run_eval(*o); });
}

}  // namespace adallava::cli
