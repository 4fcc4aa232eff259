#include "engine/deadline_control.h"

#include <algorithm>

#include "adaptive/deadline.h"

namespace adallava {

DeadlineControl::DeadlineControl(const LatencyModel& model, const LlavaModel& llava, double deadline_ms,
                                 Clock::time_point start, int64_t prompt_rows, int max_new_tokens, int planned_units)
    : model_(model),
      llava_(llava),
      deadline_ms_(deadline_ms),
      start_(start),
      prompt_rows_(prompt_rows),
      max_new_tokens_(max_new_tokens),
      planned_units_(planned_units) {}

double DeadlineControl::elapsed_ms() const {
  return std::chrono::duration<double, std::milli>(Clock::now() - start_).count();
}

int DeadlineControl::units(const ExecutionPlan& plan) const {
  const AdaLlavaParts* ada = llava_.adaptive();
  if (!ada) return 0;
  const AdaConfig& a = ada->config;
  int u = 0;
  for (int l = a.num_prefix_layers; l < plan.n_layers(); ++l)
    u += a.type == SchedulerType::L ? int(plan.runs(l)) : int(plan.layer(l).heads.size()) / a.scheduler_rank;
  return u;
}

double DeadlineControl::remaining_ms(int units, int64_t produced) const {
  double ms = 0;
  for (int64_t k = produced; k < max_new_tokens_; ++k) ms += model_.decode_token_ms(units, prompt_rows_ + k - 1);
  return ms * model_.margin();
}

std::vector<int> DeadlineControl::drop_order(const ExecutionPlan& plan, const PlanReport& report) const {
  const AdaConfig& a = llava_.adaptive()->config;
  const int P = a.num_prefix_layers, per_layer = int(report.scheduler_logits.size()) / a.num_gated_layers;
  std::vector<std::pair<float, int>> running;  // (preference, layer)
  for (int l = P; l < plan.n_layers(); ++l) {
    if (!plan.runs(l)) continue;
    float preference = -float(l);  // without the scheduler's logits: the deepest layers go first
    if (per_layer > 0) {
      const auto first = report.scheduler_logits.begin() + (l - P) * per_layer;
      preference = *std::max_element(first, first + per_layer);
    }
    running.push_back({preference, l});
  }
  std::sort(running.begin(), running.end());  // least preferred first
  std::vector<int> order;
  for (auto [p, l] : running) order.push_back(l);
  return order;
}

void DeadlineControl::before_step(Session& s, const PlanReport& report, int64_t produced) {
  if (!llava_.adaptive()) return;
  const double left = deadline_ms_ - elapsed_ms();
  if (remaining_ms(units(s.plan()), produced) <= left) return;
  const std::vector<int> order = drop_order(s.plan(), report);
  ExecutionPlan narrower = s.plan();
  size_t n = 0;
  while (n < order.size() && remaining_ms(units(narrower), produced) > left) narrower.layer(order[n++]) = LayerPlan{};
  s.drop_layers(std::vector<int>(order.begin(), order.begin() + long(n)));
  dropped_ += int(n);
}

void DeadlineControl::before_prefill(PlanRequest& plan, int64_t prompt_rows) {
  const bool fewer_rows = prompt_rows < prompt_rows_;
  prompt_rows_ = prompt_rows;
  const AdaLlavaParts* ada = llava_.adaptive();
  if (!ada) return;
  const double left = deadline_ms_ - elapsed_ms();
  RequestShape rest{false, prompt_rows_, max_new_tokens_, fewer_rows ? ada->config.max_units() : planned_units_};
  while (rest.units > 0 && model_.predict(rest).total() * model_.margin() > left) --rest.units;
  if (rest.units == planned_units_) return;
  plan.budget = budget_of_units(rest.units, ada->config);
  dropped_before_prefill_ = std::max(planned_units_ - rest.units, 0);
  planned_units_ = rest.units;
}

StepTiming DeadlineControl::step_timing(const ExecutionPlan& plan, int64_t produced) const {
  const double start = std::chrono::duration<double, std::milli>(start_.time_since_epoch()).count();
  StepTiming t;
  t.prefill = produced == 0;
  if (t.prefill) {
    t.cost_ms = model_.predict({false, prompt_rows_, 1, planned_units_}).prefill * model_.margin();
    t.due_ms = start + deadline_ms_ - remaining_ms(planned_units_, 1);
  } else {
    const int u = units(plan);
    t.cost_ms = model_.decode_token_ms(u, prompt_rows_ + produced - 1) * model_.margin();
    t.due_ms = start + deadline_ms_ - remaining_ms(u, produced + 1);
  }
  return t;
}

bool DeadlineControl::late(int64_t produced) const {
  return elapsed_ms() + model_.decode_token_ms(0, prompt_rows_ + produced - 1) * model_.margin() > deadline_ms_;
}

}  // namespace adallava
