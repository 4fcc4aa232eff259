// One AdaLLaVA training forward and backward on one sample, as the authors' forward() in train
// mode computes it (spec §3, §4.3, §5, §7): image through the vision tower (frozen unless its
// tensors are among the params) and the projector, the latency token of the sampled budget
// inserted right before the final answer, the prefix layers, the scheduler and a Gumbel-sampled
// plan, the gated layers in the masked form, and the mean next-token cross-entropy over the
// supervised labels. On a plain LLaVA checkpoint (stage 1 of a recipe) there is no latency
// token, no scheduler and every layer runs.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "data/llava_data.h"
#include "llava/llava.h"
#include "train/params.h"
#include "train/plan_sampling.h"

namespace adallava::train {

using data::kIgnoreIndex;

struct Sample {
  std::vector<int64_t> ids;     // prompt + answers, the image token marking the image
  std::vector<int64_t> labels;  // same length: kIgnoreIndex except the supervised answers
  const float* pixels = nullptr;
  // Stochastic depth on a plain LLaVA: layers that are the identity in this sample (their
  // attention and MLP outputs gated to zero, so they get no gradient either).
  std::vector<int> skipped_layers;
  // AdaLLaVA-L, --train scheduler-exact: no sampled plan; every plan of the budget's unit count
  // runs forward and the scheduler's head gets the exact gradient of the expected loss under its
  // plan distribution (see exact_plan_gradient in ada_step.cpp). No backward pass otherwise.
  bool exact_plan_gradient = false;
  // What each plan's forward pass scores there: its cross-entropy, or its answer error (the
  // share of the sample's answers with a token whose argmax misses: exact match, teacher-forced).
  enum class PlanScore { Loss, AnswerError } plan_score = PlanScore::Loss;
};

// Wall time of a step's phases, ms (the training benchmark's split).
struct StepTimes {
  double vision_forward = 0;   // tower (frozen or not) and projector
  double llm_forward = 0;      // latency encoder, decoder, scheduler, loss
  double llm_backward = 0;
  double vision_backward = 0;  // projector and, when it trains, the tower
  StepTimes& operator+=(const StepTimes& o) {
    vision_forward += o.vision_forward, llm_forward += o.llm_forward;
    llm_backward += o.llm_backward, vision_backward += o.vision_backward;
    return *this;
  }
};

struct StepResult {
  double loss = 0;
  int64_t latency_position = 0;
  std::vector<float> logits;  // (T, vocab) of the merged sequence
  std::vector<float> scheduler_input, scheduler_logits;
  SampledPlan plan;
  Grads grads;  // d loss / d param, by name (only from the overload without a grads buffer)
  StepTimes times;
};

// units: the sampled budget's unit count; noise: the Gumbel draws; tau: the temperature.
// grads: loss_scale × d loss / d param is ADDED to every tensor it holds (a batch accumulates
// into one buffer); params it lacks are frozen and their weight gradients are not computed.
StepResult ada_train_step(const LlavaModel& m, const Params& p, const Sample& s, int units, float tau,
                          const GumbelSource& noise, Grads& grads, float loss_scale = 1.f);
// The same with every param's gradient, returned in StepResult::grads.
StepResult ada_train_step(const LlavaModel& m, const Params& p, const Sample& s, int units, float tau,
                          const GumbelSource& noise);

// The share of answers (runs of supervised next-token targets, kIgnoreIndex between them) with a
// row whose argmax is not its target: exact match, teacher-forced. logits: (targets.size(), V).
double answer_error(const float* logits, const std::vector<int64_t>& targets, int64_t V);

}  // namespace adallava::train
