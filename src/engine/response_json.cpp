#include "engine/response_json.h"

#include "kernels/cpu_features.h"
#include "kernels/kernel_set.h"

namespace adallava {

nlohmann::json kernels_json() {
  nlohmann::json ops;
  for (const auto& [op, set] : kernel_choice_fields(active_kernels())) ops[op] = set;
  return {{"cpu", cpu_features().model},
          {"set", kernel_set_name(active_kernel_set())},
          {"forced", forced_kernel_set().has_value()},
          {"ops", ops}};
}

nlohmann::json plan_json(const ExecutionPlan& plan) {
  nlohmann::json layers = nlohmann::json::array();
  for (int l : plan.executed_layers())
    layers.push_back({{"layer", l}, {"heads", plan.layer(l).heads}, {"mlp_groups", plan.layer(l).mlp_groups}});
  return {{"executed_layers", plan.executed_layers()}, {"layers", layers}};
}

void add_plan_report(nlohmann::json& j, const PlanReport& r) {
  j["budget"] = r.budget;
  j["units"] = r.adaptive ? nlohmann::json(r.units) : nlohmann::json(nullptr);
  j["executed_fraction"] = r.executed_fraction;
  j["plan_source"] = r.source;
  j["plan"] = plan_json(r.plan);
  if (r.source == "scheduler") {
    j["scheduler_ms"] = r.scheduler_ms;
    j["scheduler_logits"] = r.scheduler_logits;  // what the plan was picked from (L: one per gated layer)
  }
}

void add_deadline_report(nlohmann::json& j, const Response& r) {
  if (!r.deadline_ms) return;
  j["deadline_ms"] = *r.deadline_ms;
  j["predicted_ms"] = r.predicted.total();
  j["met"] = r.met;
  j["predicted_as_run_ms"] = r.predicted_as_run.total();
  j["narrowed_layers"] = r.narrowed_layers;
  j["narrowed_before_prefill"] = r.narrowed_before_prefill;
  j["threads"] = r.threads;
  j["planning_ms"] = r.planning_ms;
  j["predicted_timings_ms"] = {{"vision", r.predicted.vision}, {"prefill", r.predicted.prefill},
                               {"decode", r.predicted.decode}, {"total", r.predicted.total()}};
}

void add_selection_report(nlohmann::json& j, const Response& r) {
  j["token_selection"] = r.token_selection;
  j["image_tokens"] = r.image_rows;
  j["image_tokens_kept"] = r.image_rows_kept;
}

nlohmann::json response_json(const Response& r, Precision precision) {
  nlohmann::json j;
  j["text"] = r.text;
  j["ids"] = r.ids;
  j["prompt_ids"] = r.prompt_ids;
  j["prompt_tokens"] = r.prompt_rows;
  add_selection_report(j, r);
  j["generated_tokens"] = r.ids.size();
  j["stopped_at_eos"] = r.finish_reason == "stop";
  j["finish_reason"] = r.finish_reason;
  j["precision"] = precision_name(precision);
  j["kernels"] = kernels_json();
  j["timings_ms"] = {{"vision", r.vision_ms}, {"prefill", r.prefill_ms}, {"decode", r.decode_ms}, {"total", r.total_ms}};
  j["total_ms"] = r.total_ms;
  add_plan_report(j, r.plan);
  add_deadline_report(j, r);
  return j;
}

}  // namespace adallava
