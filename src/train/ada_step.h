// One AdaLLaVA training forward and backward on one sample, as the authors' forward() in train
// mode computes it (spec §3, §4.3, §5, §7): image through the frozen vision tower and the
// projector, the latency token of the sampled budget inserted right before the final answer,
// the prefix layers, the scheduler and a Gumbel-sampled plan, the gated layers in the masked
// form, and the mean next-token cross-entropy over the supervised labels.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "model/llava.h"
#include "train/plan_sampling.h"

namespace adallava::train {

constexpr int64_t kIgnoreIndex = -100;

// Trainable tensors as float copies, by checkpoint name (the vision tower stays frozen in the
// model and is not here).
struct Params {
  std::map<std::string, std::vector<float>> values;
  static Params from_model(const LlavaModel& m);
  const float* at(const std::string& name) const;
  float* at(const std::string& name);
  std::map<std::string, std::vector<float>> zeros_like() const;
};

struct Sample {
  std::vector<int64_t> ids;     // prompt + answers, the image token marking the image
  std::vector<int64_t> labels;  // same length: kIgnoreIndex except the supervised answers
  const float* pixels = nullptr;
};

struct StepResult {
  double loss = 0;
  int64_t latency_position = 0;
  std::vector<float> logits;  // (T, vocab) of the merged sequence
  std::vector<float> scheduler_input, scheduler_logits;
  SampledPlan plan;
  std::map<std::string, std::vector<float>> grads;  // d loss / d param, by name
};

// units: the sampled budget's unit count; noise: the Gumbel draws; tau: the temperature.
StepResult ada_train_step(const LlavaModel& m, const Params& p, const Sample& s, int units, float tau,
                          const GumbelSource& noise);

}  // namespace adallava::train
