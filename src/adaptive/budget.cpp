#include "adaptive/budget.h"

#include <cmath>
#include <numbers>

#include "io/parse_number.h"
#include "tensor/error.h"

namespace adallava {

double parse_budget(const std::string& text, const std::string& what) {
  const std::optional<double> parsed = parse_finite(text);
  if (!parsed) throw Error(what + " '" + text + "' is not a number (a fraction of the full model in [0, 1])");
  const double b = *parsed;
  if (b < 0 || b > 1) throw Error(what + " " + text + " is outside [0, 1] (a fraction of the full model)");
  return b;
}

int budget_units(double budget, const AdaConfig& a) {
  if (!(budget >= 0 && budget <= 1)) throw Error("budget " + std::to_string(budget) + " is outside [0, 1]");
  const DType t = a.budget_dtype;
  // torch.full((1,), b, dtype) then T * b: the product is computed in float and rounded to dtype.
  const float b = round_to(t, float(budget));
  const float tb = round_to(t, float(a.total_units) * b);
  const int units = int(std::floor(tb)) - a.prefix_units;
  return std::clamp(units, 0, a.max_units());
}

float encoder_input(int units, const AdaConfig& a) {
  return round_to(a.budget_dtype, float(units) / float(a.max_units() + 1));
}

float encoder_angle(float q, const AdaConfig& a) {
  const float twice = round_to(a.budget_dtype, q * 2.f);
  return round_to(a.budget_dtype, twice * float(std::numbers::pi));
}

}  // namespace adallava
