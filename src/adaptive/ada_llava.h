// What an AdaLLaVA checkpoint adds to LLaVA: its config fields, the latency encoder and the
// scheduler head (names in model/tensor_names; the older top-level encoder is accepted too).
#pragma once
#include "adaptive/ada_config.h"
#include "adaptive/latency_encoder.h"
#include "adaptive/scheduler.h"

namespace adallava {

struct AdaLlavaParts {
  AdaConfig config;
  LatencyEncoder encoder;
  Scheduler scheduler;

  static AdaLlavaParts load(const TensorStore& store, const ModelConfig& cfg);
};

}  // namespace adallava
