// How long a request takes on this machine, by phase, as a function of what it runs: the
// image encode, the prefill of T prompt rows and each decoded token, under a plan of `units`
// schedulable units (an AdaLLaVA-L layer, or an -H slice of heads and MLP groups) beyond the
// always-on part. Each piece's cost is timed on the model itself at calibration (a layer, the
// head, the image encode), the phases add them up by what the plan runs, and every request's
// measured phase times then correct them online.
#pragma once
#include <array>
#include <cstdint>

#include "llava/llava.h"

namespace adallava {

// Milliseconds by phase.
struct Phases {
  double vision = 0, prefill = 0, decode = 0;
  double total() const { return vision + prefill + decode; }
};

// What a request is, as far as its time goes.
struct RequestShape {
  bool image = false;
  int64_t prompt_rows = 0;  // decoder rows of the prompt (image rows and latency token included)
  int new_tokens = 0;       // generated tokens (the first comes from the prefill, each other from a decode step)
  int units = 0;            // schedulable units run beyond the always-on part
};

// What the model's pieces cost on this machine, in ms (measured by calibrate()).
struct Costs {
  double vision = 0;              // one image through the tower and the projector
  double layer_prefill_row = 0;   // one full decoder layer, per prompt row
  double layer_decode = 0;        // one full decoder layer, one decoded token
  double head = 0;                // the final norm and lm_head on one row
  double attention_pair = 0;      // one (query row, key row) pair in one full layer, at prefill
  double kv_row = 0;              // reading one context row's K and V in one full layer, at decode
};

// How a plan of `units` maps to full decoder layers.
struct UnitShape {
  double fixed_layers = 0;     // always-on (all layers for plain LLaVA)
  double layers_per_unit = 0;  // 1 for AdaLLaVA-L, rank / heads for -H
  static UnitShape of(const LlavaModel& m);
};

class LatencyModel {
 public:
  LatencyModel(const UnitShape& units, const Costs& costs) : units_(units), costs_(costs) {}
  // Times the model's own pieces: a decoder layer on one row and on a 64-row prompt, lm_head,
  // and the image encode where it is quick (else its work at the measured product rate). Well
  // under a second for a 7B model.
  static LatencyModel calibrate(const LlavaModel& m, Precision p);

  Phases predict(const RequestShape& r) const;
  // One decoded token with `context` rows already cached.
  double decode_token_ms(int units, int64_t context) const;
  // Folds in a finished request: each phase's measured / predicted ratio (phases that did not
  // run are skipped). The correction of a phase is the median of its last three ratios, the
  // calibration counting as ratios of 1 until replaced: one outlier does not move it, a lasting
  // change in load does after two requests.
  void observe(const Phases& predicted, const Phases& measured);
  // A vote for the calibration (a ratio of 1 in every phase), and the margin back to 1 until
  // new requests are seen: when a refused request brought no measurement, or when this model
  // went unused for a while (another thread count won). A model made pessimistic by a load
  // that has gone comes back to try again.
  void relax();
  // Called when a request ran under another model: every kIdleRelax such requests, relax().
  void idle();

  const Costs& costs() const { return costs_; }
  Phases correction() const;
  // How much slack a plan keeps: the upper quartile of the last eight requests' measured /
  // predicted totals (at least 1, at most 2; 1 until four requests were seen). Quiet, the
  // corrected predictions hit and this is about 1; under a load that comes and goes they
  // scatter, and a plan that must finish in time leaves room for the slow side.
  double margin() const;

 private:
  struct Ratios {
    std::array<double, 3> last{1, 1, 1};
    int n = 0;
    void add(double r);
    double median() const;
  };
  Phases raw(const RequestShape& r) const;  // before the online correction

  double layers(int units) const { return units_.fixed_layers + units * units_.layers_per_unit; }

  UnitShape units_;
  Costs costs_;
  Ratios vision_, prefill_, decode_;
  std::array<double, 8> spread_{};  // the last requests' measured / predicted totals
  int spread_n_ = 0;
  int idle_ = 0;  // requests run under other models since this one was last used or relaxed
};

}  // namespace adallava
