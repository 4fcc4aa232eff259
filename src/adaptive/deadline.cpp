#include "adaptive/deadline.h"

#include <cmath>
#include <cstdio>

#include "adaptive/budget.h"
#include "io/parse_number.h"
#include "tensor/error.h"

namespace adallava {

double parse_deadline_ms(const std::string& text, const std::string& what) {
  const std::optional<double> parsed = parse_finite(text);
  if (!parsed) throw Error(what + " '" + text + "' is not a number of milliseconds");
  const double d = *parsed;
  if (d <= 0) throw Error(what + " " + text + " ms is not above 0");
  return d;
}

double budget_of_units(int units, const AdaConfig& a) {
  if (units >= a.max_units()) return 1.0;
  // The grid point, then up in small steps past any rounding of the budget dtype.
  double b = double(a.prefix_units + units) / a.total_units;
  for (int i = 0; i < 64 && budget_units(b, a) < units; ++i) b = std::min(1.0, b + 1e-3 / a.total_units);
  return b;
}

DeadlinePlan plan_for_deadline(const LatencyModel& model, const AdaConfig* a, double deadline_ms, RequestShape shape) {
  DeadlinePlan plan;
  const int max_units = a ? a->max_units() : 0;
  for (int u = max_units; u >= 0; --u) {
    shape.units = u;
    plan.units = u;
    plan.budget = a ? budget_of_units(u, *a) : 1.0;
    plan.predicted = model.predict(shape);
    if (plan.predicted.total() * model.margin() <= deadline_ms) return plan;
  }
  RequestShape narrowest = shape;
  narrowest.units = 0;
  narrowest.new_tokens = 1;
  const double minimum = model.predict(narrowest).total();
  if (minimum > deadline_ms) {
    char msg[160];
    std::snprintf(msg, sizeof msg, "deadline %g ms cannot be met: the narrowest plan needs about %.0f ms for one token",
                  deadline_ms, minimum);
    throw InfeasibleDeadline(msg);
  }
  return plan;  // the narrowest plan; the request stops when the deadline comes
}

}  // namespace adallava
