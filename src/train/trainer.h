// The training loop: per optimizer step, batch × accum samples, each with a fresh budget drawn
// uniformly from the unit grid and fresh Gumbel noise (spec §7.2); gradients weighted so the
// loss is the mean over every supervised token of the step (as one padded batch would give);
// global-norm clipping, AdamW, cosine schedule with warmup.
#pragma once
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "train/ada_step.h"
#include "data/llava_data.h"
#include "train/optimizer.h"

namespace adallava::train {

struct TrainOptions {
  int64_t steps = 100;
  int batch = 1, accum = 1;
  double lr = 2e-5;
  // Peak learning rate of the scheduler and latency encoder (0: lr). A new scheduler can learn
  // quickly while the LLM it steers moves gently.
  double scheduler_lr = 0;
  int64_t warmup = 0;
  double clip = 1.0;
  AdamWConfig adam;
  std::string train = "no-vision";  // see trains()
  uint64_t seed = 0;
  float tau = 5.f;
  // Scale of the Gumbel noise in plan sampling (1: the authors' sampler, plans drawn from
  // softmax(logits); s draws them from softmax(logits / s), so below 1 each input mostly trains
  // its scheduler's own plans and less the others).
  float plan_noise = 1.f;
  // --train scheduler-exact: each plan scored by its loss or by its answer error (Sample::PlanScore).
  Sample::PlanScore plan_score = Sample::PlanScore::Loss;
  int64_t stop_after = 0;  // stop once this many steps are done (0: run to `steps`); the schedule still spans `steps`
  // Stochastic depth (plain LLaVA only): each sample skips each of these layers with this
  // probability (tried in stage 1 on layers 4 and 5, and not in the recipe: see the README).
  std::vector<int> drop_layers;
  double drop_rate = 0;
};

// Everything a run needs to continue exactly where it stopped: the step, the random stream
// (data order, budgets, Gumbel noise), the epoch's order and position, the optimizer moments.
struct TrainState {
  int64_t step = 0;
  std::mt19937_64 rng;
  std::vector<size_t> order;
  size_t cursor = 0;
  AdamW optimizer;
};

// Saves / loads a state as DIR/trainer_state.json and DIR/optimizer.safetensors.
void save_train_state(const std::string& dir, TrainState& s);
TrainState load_train_state(const std::string& dir);

struct Example {
  data::Encoded tokens;
  std::vector<float> pixels;  // empty for text-only
};

struct StepLog {
  int64_t step = 0;
  double loss = 0, lr = 0, grad_norm = 0;
  int64_t tokens = 0;  // supervised tokens in the step
  int64_t sequence_tokens = 0;  // every position of the step's merged sequences
  StepTimes times;      // summed over the step's samples
  double optimizer_ms = 0;  // clipping, AdamW
};

// Trains params in place over the examples (visited in a seeded order, reshuffled each epoch).
// on_step is called after every optimizer step, with the state (if given) already describing
// it, so a callback may save params and state. state, if given, is continued (a fresh one
// starts from the seed) and left where the run stopped.
void train(const LlavaModel& m, Params& params, const std::vector<Example>& data, const TrainOptions& o,
           const std::function<void(const StepLog&)>& on_step = {}, TrainState* state = nullptr);

// Whether a parameter trains under the --train choice: all; no-vision (all but the vision
// tower); gated (the scheduler, latency encoder and the layers after m's always-on prefix: the
// prefix keeps the base model's division of labour; on a plain LLaVA the second half of its
// layers, whose backward pass then stops there); scheduler (those two only); scheduler-exact
// (the scheduler's head only, on the exact expected loss over every plan: AdaLLaVA-L).
bool trains(const std::string& name, const std::string& choice, const LlavaModel& m);

}  // namespace adallava::train
