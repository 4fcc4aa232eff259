// Latency budget → unit count, as the authors' `latency_quantizing` computes it:
// units = relu(floor(T · b) − P), with b and T · b rounded to the model dtype (fp16 for the
// released checkpoints), and the encoder input q = units / (T − P + 1) in that dtype.
#pragma once
#include <string>

#include "adaptive/ada_config.h"

namespace adallava {

// Parses a budget: a number in [0, 1]. Throws Error naming `what` otherwise.
double parse_budget(const std::string& text, const std::string& what = "budget");

// Units the budget buys beyond the prefix, in [0, max_units()].
int budget_units(double budget, const AdaConfig& a);
// The latency encoder's input for a unit count: units / (T − P + 1), rounded to the dtype.
float encoder_input(int units, const AdaConfig& a);
// x = (q · 2) · π, each product rounded to the dtype (π stays float, as on CUDA).
float encoder_angle(float q, const AdaConfig& a);

}  // namespace adallava
