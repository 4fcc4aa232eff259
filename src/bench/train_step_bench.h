// adallava bench --train-step: the speed of training steps (forward, backward, optimizer) on a
// synthetic model, with the time split by phase and the linear products' GFLOP/s.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "llava/llava.h"

namespace adallava {

struct TrainStepBenchOptions {
  std::string train = "no-vision";  // what trains: all, no-vision, scheduler
  int batch = 8;                    // samples per optimizer step
  int steps = 3;                    // measured steps (after one warm-up step)
  int text_tokens = 48;             // text tokens per sample besides the image (the last 4 supervised)
};

nlohmann::json bench_train_step(const LlavaModel& m, const TrainStepBenchOptions& o);

}  // namespace adallava
