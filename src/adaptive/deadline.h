// A deadline in milliseconds turned into a plan: the largest budget on the scheduler's unit
// grid whose request the latency model predicts will finish in time.
#pragma once
#include <string>

#include "adaptive/ada_config.h"
#include "adaptive/latency_model.h"
#include "tensor/error.h"

namespace adallava {

// Parses a deadline: a finite number of milliseconds above 0. Throws Error naming `what`.
double parse_deadline_ms(const std::string& text, const std::string& what = "deadline");

// A deadline that even the narrowest plan cannot meet with one token: refused before any work.
class InfeasibleDeadline : public Error {
 public:
  using Error::Error;
};

struct DeadlinePlan {
  double budget = 1;  // for the request's PlanRequest (1 on a plain LLaVA)
  int units = 0;      // what that budget buys beyond the always-on part
  Phases predicted;   // of the whole request at that plan
};

// The smallest budget that buys `units` (the grid point; budget_units of it is units).
double budget_of_units(int units, const AdaConfig& a);

// The largest unit count whose prediction, times the model's margin, fits the deadline.
// shape: the request (its units are ignored). a: null for a plain LLaVA, which has one plan.
// A deadline the plan cannot meet with all of shape.new_tokens still gets the narrowest plan
// (the request stops at the deadline); one that even the narrowest plan with one token cannot
// meet is an InfeasibleDeadline naming the predicted minimum.
DeadlinePlan plan_for_deadline(const LatencyModel& model, const AdaConfig* a, double deadline_ms, RequestShape shape);

}  // namespace adallava
