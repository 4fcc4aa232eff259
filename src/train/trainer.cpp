#include "train/trainer.h"

#include <cmath>
#include <numeric>
#include <random>

#include "tensor/error.h"

namespace adallava::train {

bool trains(const std::string& name, const std::string& choice) {
  if (choice == "scheduler") return name.rfind("scheduler.", 0) == 0;
  if (choice == "no-vision") return true;  // the vision tower is never among the params
  throw Error("--train '" + choice +
              "' is not supported (no-vision, scheduler; all = with the vision tower is not yet)");
}

void train(const LlavaModel& m, Params& params, const std::vector<Example>& data, const TrainOptions& o,
           const std::function<void(const StepLog&)>& on_step) {
  if (data.empty()) throw Error("no training examples");
  trains("", o.train);  // validates the choice
  const AdaConfig& a = m.adaptive()->config;
  std::mt19937_64 rng(o.seed);
  std::vector<size_t> order(data.size());
  std::iota(order.begin(), order.end(), size_t(0));
  size_t cursor = order.size();  // forces a shuffle first
  // Fisher–Yates with a plain modulo: the same order on every standard library.
  auto next_example = [&]() -> const Example& {
    if (cursor == order.size()) {
      for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[size_t(rng() % i)]);
      cursor = 0;
    }
    return data[order[cursor++]];
  };
  // Gumbel(0, 1) = −log(E), E ~ Exponential(1) = −log(U), U uniform in (0, 1].
  GumbelSource gumbel = [&](float* g, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
      const double u = (double(rng() >> 11) + 1.0) / 9007199254740993.0;
      g[i] = float(-std::log(-std::log(u)));
    }
  };
  AdamW opt(o.adam);
  for (int64_t step = 0; step < o.steps; ++step) {
    std::map<std::string, std::vector<float>> grads = params.zeros_like();
    std::vector<std::pair<StepResult, int64_t>> parts;
    int64_t total_tokens = 0;
    double loss_sum = 0;
    for (int i = 0; i < o.batch * o.accum; ++i) {
      const Example& ex = next_example();
      const int units = int(rng() % uint64_t(a.max_units() + 1));
      Sample s{ex.tokens.ids, ex.tokens.labels, ex.pixels.empty() ? nullptr : ex.pixels.data()};
      StepResult r = ada_train_step(m, params, s, units, o.tau, gumbel);
      int64_t n = 0;  // supervised tokens: labels after the first position
      for (size_t t = 1; t < ex.tokens.labels.size(); ++t) n += ex.tokens.labels[t] != kIgnoreIndex;
      total_tokens += n;
      loss_sum += r.loss * double(n);
      for (auto& [name, g] : r.grads) {
        if (!trains(name, o.train)) continue;
        std::vector<float>& acc = grads[name];
        for (size_t k = 0; k < g.size(); ++k) acc[k] += g[k] * float(n);
      }
    }
    if (total_tokens == 0) continue;
    for (auto& [name, g] : grads)
      for (float& x : g) x /= float(total_tokens);
    for (auto it = grads.begin(); it != grads.end();) it = trains(it->first, o.train) ? std::next(it) : grads.erase(it);
    StepLog log;
    log.step = step + 1;
    log.grad_norm = clip_grad_norm(grads, o.clip);
    log.lr = cosine_lr(o.lr, step, o.warmup, o.steps);
    opt.step(params.values, grads, log.lr);
    log.loss = loss_sum / double(total_tokens);
    log.tokens = total_tokens;
    if (on_step) on_step(log);
  }
}

}  // namespace adallava::train
