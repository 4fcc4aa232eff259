#include "train/trainer.h"

#include <chrono>
#include <malloc.h>
#include <omp.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>
#include <sstream>

#include "io/atomic_write.h"
#include "io/safetensors.h"
#include "io/safetensors_writer.h"
#include "tensor/error.h"

namespace adallava::train {

namespace {

// The latency encoder and the scheduler head.
bool is_scheduler_param(const std::string& name) {
  return name.rfind(names::kLatencyEncoder, 0) == 0 || name.rfind(names::kSchedulerHead, 0) == 0;
}

}  // namespace

bool trains(const std::string& name, const std::string& choice, const LlavaModel& m) {
  if (choice == "scheduler") return is_scheduler_param(name);
  if (choice == "scheduler-exact") return name.rfind(names::kSchedulerHead, 0) == 0;
  if (choice == "gated") {
    if (is_scheduler_param(name)) return true;
    const std::string layers = train_names().decoder + "layers.";
    if (name.rfind(layers, 0) != 0) return false;
    const int prefix = m.adaptive() ? m.adaptive()->config.num_prefix_layers : m.config().text.num_layers / 2;
    return std::atoi(name.c_str() + layers.size()) >= prefix;
  }
  if (choice == "no-vision") return name.rfind(kEmbeddedVisionPrefix, 0) != 0;
  if (choice == "all") return true;
  throw OptionError("train", "'" + choice + "' is not one of all, no-vision, gated, scheduler, scheduler-exact");
}

namespace {

void check_options(const LlavaModel& m, const TrainOptions& o) {
  trains("", o.train, m);  // validates the choice
  if (o.drop_rate <= 0 || o.drop_layers.empty()) return;
  if (m.adaptive()) throw OptionError("drop_layers", "the checkpoint is AdaLLaVA (its scheduler decides which layers run)");
  for (int l : o.drop_layers)
    if (l < 0 || l >= m.config().text.num_layers)
      throw OptionError("drop_layers", "layer " + std::to_string(l) + " is not in [0, " +
                                           std::to_string(m.config().text.num_layers) + ")");
}

// A new run's state, or a saved one checked against the data.
void start(TrainState& st, const TrainOptions& o, size_t n_examples) {
  if (st.order.empty()) {
    st.rng.seed(o.seed);
    st.order.resize(n_examples);
    std::iota(st.order.begin(), st.order.end(), size_t(0));
    st.cursor = st.order.size();  // forces a shuffle first
    st.optimizer = AdamW(o.adam);
  } else if (st.order.size() != n_examples) {
    throw Error("the saved training state is for " + std::to_string(st.order.size()) + " examples, the data has " +
                std::to_string(n_examples));
  } else {
    st.optimizer.set_config(o.adam);  // hyper-parameters come from the options, moments from the state
  }
}

// The next example of the epoch order; a new epoch reshuffles (Fisher–Yates with a plain
// modulo: the same order on every standard library).
const Example& next_example(TrainState& st, const std::vector<Example>& data) {
  if (st.cursor == st.order.size()) {
    for (size_t i = st.order.size(); i > 1; --i) std::swap(st.order[i - 1], st.order[size_t(st.rng() % i)]);
    st.cursor = 0;
  }
  return data[st.order[st.cursor++]];
}

// One sample of a step: what it trains on and what it drew.
struct Job {
  const Example* ex = nullptr;
  int units = 0;
  std::vector<int> skipped;  // stochastic depth
  uint64_t seed = 0;
  int64_t n = 0;  // supervised tokens: labels after the first position
  StepResult r;
};

// Every sample's example, budget, Gumbel seed and dropped layers, from the run's RNG in
// sample order (so a step is the same whatever thread runs what).
void draw_jobs(std::vector<Job>& jobs, TrainState& st, const std::vector<Example>& data, const LlavaModel& m,
               const TrainOptions& o) {
  for (Job& j : jobs) {
    j.ex = &next_example(st, data);
    j.units = m.adaptive() ? int(st.rng() % uint64_t(m.adaptive()->config.max_units() + 1)) : 0;
    j.seed = st.rng();
    j.skipped.clear();
    if (o.drop_rate > 0)  // no draws without it: runs without stochastic depth keep their stream
      for (int l : o.drop_layers)
        if (double(st.rng() >> 11) * 0x1.0p-53 < o.drop_rate) j.skipped.push_back(l);
    j.n = 0;
    for (size_t t = 1; t < j.ex->tokens.labels.size(); ++t) j.n += j.ex->tokens.labels[t] != kIgnoreIndex;
  }
}

// Runs the samples concurrently, sample i on thread i mod n, each thread summing into its own
// gradient buffer; then adds the buffers in thread order into grads[0].
void run_jobs(std::vector<Job>& jobs, const LlavaModel& m, const Params& params, const TrainOptions& o,
              std::vector<Grads>& grads) {
  const int n_threads = int(grads.size()), n_samples = int(jobs.size());
  std::string error;  // an exception may not leave an OpenMP region: carried out by hand
  auto run_job = [&](Job& j, Grads& into) {
    std::mt19937_64 stream(j.seed);
    const GumbelSource gumbel = scaled_gumbel(stream, o.plan_noise);
    Sample s{j.ex->tokens.ids, j.ex->tokens.labels, j.ex->pixels.empty() ? nullptr : j.ex->pixels.data(), j.skipped,
             o.train == "scheduler-exact", o.plan_score};
    try {
      // The sample's mean loss × n: the step's gradient is then a sum over supervised tokens.
      j.r = ada_train_step(m, params, s, j.units, o.tau, gumbel, into, float(j.n));
    } catch (const std::exception& e) {
#pragma omp critical
      error = e.what();
    }
  };
  if (n_threads == 1) {  // one sample a step (or one thread): the products use every thread instead
    for (Job& j : jobs) run_job(j, grads[0]);
  } else {
#pragma omp parallel for num_threads(n_threads) schedule(static, 1)
    for (int i = 0; i < n_samples; ++i) run_job(jobs[size_t(i)], grads[size_t(omp_get_thread_num())]);
  }
  if (!error.empty()) throw Error(error);
  for (int t = 1; t < n_threads; ++t)
    for (auto& [name, g] : grads[0]) {
      const std::vector<float>& other = grads[size_t(t)].at(name);
      for (size_t k = 0; k < g.size(); ++k) g[k] += other[k];
    }
}

}  // namespace

void train(const LlavaModel& m, Params& params, const std::vector<Example>& data, const TrainOptions& o,
           const std::function<void(const StepLog&)>& on_step, TrainState* state) {
  if (data.empty()) throw Error("no training examples");
  check_options(m, o);
  TrainState fresh;
  TrainState& st = state ? *state : fresh;
  start(st, o, data.size());
  const int64_t end = o.stop_after > 0 ? std::min(o.steps, o.stop_after) : o.steps;
  // Freed activations stay in the heap for the next sample: without this glibc hands large
  // blocks back to the kernel and every sample pays page faults and zeroing for them again.
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  const int n_samples = o.batch * o.accum;
  const int n_threads = std::max(1, std::min(n_samples, omp_get_max_threads()));
  std::vector<Grads> grads(static_cast<size_t>(n_threads));  // only the tensors that train; reused by every step
  for (const auto& [name, v] : params.values)
    if (trains(name, o.train, m))
      for (Grads& g : grads) g[name].assign(v.size(), 0.f);
  if (grads[0].empty()) throw OptionError("train", o.train + ": this checkpoint has nothing that trains under that choice");
  std::function<double(const std::string&)> lr_scale;  // the scheduler's own peak learning rate
  if (o.scheduler_lr > 0 && o.lr > 0)
    lr_scale = [ratio = o.scheduler_lr / o.lr](const std::string& name) { return is_scheduler_param(name) ? ratio : 1.0; };
  std::vector<Job> jobs(static_cast<size_t>(n_samples));
  while (st.step < end) {
    for (Grads& tg : grads)
      for (auto& [name, g] : tg) std::fill(g.begin(), g.end(), 0.f);
    draw_jobs(jobs, st, data, m, o);
    run_jobs(jobs, m, params, o, grads);
    StepLog log;
    log.step = st.step + 1;
    double loss_sum = 0;
    for (const Job& j : jobs) {
      log.times += j.r.times;
      log.sequence_tokens += int64_t(j.r.logits.size()) / m.config().text.vocab_size;
      log.tokens += j.n;
      loss_sum += j.r.loss * double(j.n);
    }
    if (log.tokens == 0) {  // nothing supervised: no update, the step still counts
      ++st.step;
      continue;
    }
    for (auto& [name, g] : grads[0])
      for (float& x : g) x /= float(log.tokens);
    const auto t_opt = std::chrono::steady_clock::now();
    log.grad_norm = clip_grad_norm(grads[0], o.clip);
    log.lr = cosine_lr(o.lr, st.step, o.warmup, o.steps);
    st.optimizer.step(params.values, grads[0], log.lr, lr_scale);
    log.optimizer_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t_opt).count();
    log.loss = loss_sum / double(log.tokens);
    ++st.step;  // the state now describes the finished step, so on_step may save it
    if (on_step) on_step(log);
  }
}

void save_train_state(const std::string& dir, TrainState& s) {
  std::ostringstream rng;
  rng << s.rng;
  nlohmann::json j = {{"step", s.step},
                      {"rng", rng.str()},
                      {"order", s.order},
                      {"cursor", s.cursor},
                      {"optimizer_steps", s.optimizer.steps()}};
  std::vector<TensorToWrite> moments;
  for (auto* set : {&s.optimizer.first_moments(), &s.optimizer.second_moments()})
    for (auto& [name, v] : *set)
      moments.push_back({std::string(set == &s.optimizer.first_moments() ? "m." : "v.") + name,
                         DType::F32,
                         {int64_t(v.size())},
                         v.data()});
  write_safetensors(dir + "/optimizer.safetensors", moments);
  write_file_atomically(dir + "/trainer_state.json", j.dump() + "\n");
}

TrainState load_train_state(const std::string& dir) {
  const std::string path = dir + "/trainer_state.json";
  std::ifstream in(path);
  if (!in) throw Error(path + ": no training state to resume from");
  TrainState s;
  try {
    const nlohmann::json j = nlohmann::json::parse(in);
    s.step = j.at("step").get<int64_t>();
    std::istringstream rng(j.at("rng").get<std::string>());
    rng >> s.rng;
    s.order = j.at("order").get<std::vector<size_t>>();
    s.cursor = j.at("cursor").get<size_t>();
    s.optimizer.set_steps(j.at("optimizer_steps").get<int64_t>());
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + ": not a training state (" + std::string(e.what()) + ")");
  }
  TensorStore store;
  store.add_file(dir + "/optimizer.safetensors");
  for (const auto& [name, r] : store.records()) {
    const float* v = static_cast<const float*>(r.data);
    auto& set = name.rfind("m.", 0) == 0 ? s.optimizer.first_moments() : s.optimizer.second_moments();
    set[name.substr(2)] = std::vector<float>(v, v + r.numel());
  }
  return s;
}

}  // namespace adallava::train
