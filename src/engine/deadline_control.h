// Keeps a request with a deadline on time; every prediction it makes keeps the latency
// model's margin of slack, as the plan did. After the image encode it lowers the budget when
// the encode ran late (nothing has run in the decoder yet, so any plan is open). Before each
// decode step it compares the time left with what the latency model predicts for the tokens still to come;
// when they would not fit it narrows the plan, dropping the gated layers that run in the
// reverse of the scheduler's preference (the fewest that make the rest fit); and it says when
// even the narrowest plan cannot produce the next token in time.
#pragma once
#include <chrono>
#include <vector>

#include "adaptive/latency_model.h"
#include "generate/batch_step.h"
#include "generate/session.h"

namespace adallava {

class DeadlineControl {
 public:
  using Clock = std::chrono::steady_clock;
  DeadlineControl(const LatencyModel& model, const LlavaModel& llava, double deadline_ms, Clock::time_point start,
                  int64_t prompt_rows, int max_new_tokens, int planned_units);

  // After the encode, with the decoder rows the prompt took: the largest unit count up to the
  // planned one whose prefill and decode fit in the time left (the narrowest when none does), as
  // the request's budget. When token selection left fewer rows than planned for, up to the most.
  void before_prefill(PlanRequest& plan, int64_t prompt_rows);
  // Before the decode step that follows `produced` tokens.
  void before_step(Session& s, const PlanReport& report, int64_t produced);
  // For a batched step (generate/step_batcher.h): the predicted cost of the step after `produced`
  // tokens under `plan` (0: the prefill, at the planned units), and when it must end for the
  // steps still to come to fit before the deadline.
  StepTiming step_timing(const ExecutionPlan& plan, int64_t produced) const;
  // Whether the token after `produced` ones would come after the deadline even with the
  // narrowest plan.
  bool late(int64_t produced) const;
  int dropped_layers() const { return dropped_; }
  // Units given up after the encode (0 when the encode kept to the plan).
  int dropped_before_prefill() const { return dropped_before_prefill_; }
  // The units the prefill ran with (the plan's, or what before_prefill chose).
  int prefill_units() const { return planned_units_; }

 private:
  double elapsed_ms() const;
  // Units a plan runs beyond the always-on layers.
  int units(const ExecutionPlan& plan) const;
  // Predicted ms of the decode steps still to come after `produced` tokens at `units`.
  double remaining_ms(int units, int64_t produced) const;
  // The gated layers that run, least preferred first.
  std::vector<int> drop_order(const ExecutionPlan& plan, const PlanReport& report) const;

  const LatencyModel& model_;
  const LlavaModel& llava_;
  double deadline_ms_;
  Clock::time_point start_;
  int64_t prompt_rows_;
  int max_new_tokens_;
  int planned_units_;
  int dropped_ = 0, dropped_before_prefill_ = 0;
};

}  // namespace adallava
