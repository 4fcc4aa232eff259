#include "train/trainer.h"

#include <chrono>
#include <malloc.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>
#include <sstream>

#include "io/safetensors.h"
#include "io/safetensors_writer.h"
#include "tensor/error.h"

namespace adallava::train {

bool trains(const std::string& name, const std::string& choice) {
  if (choice == "scheduler") return name.rfind("scheduler.", 0) == 0;
  if (choice == "no-vision") return name.rfind(kEmbeddedVisionPrefix, 0) != 0;
  if (choice == "all") return true;
  throw Error("--train '" + choice + "' is not one of all, no-vision, scheduler");
}

void train(const LlavaModel& m, Params& params, const std::vector<Example>& data, const TrainOptions& o,
           const std::function<void(const StepLog&)>& on_step, TrainState* state) {
  if (data.empty()) throw Error("no training examples");
  trains("", o.train);  // validates the choice
  TrainState fresh;
  TrainState& st = state ? *state : fresh;
  if (st.order.empty()) {  // a new run
    st.rng.seed(o.seed);
    st.order.resize(data.size());
    std::iota(st.order.begin(), st.order.end(), size_t(0));
    st.cursor = st.order.size();  // forces a shuffle first
    st.optimizer = AdamW(o.adam);
  } else if (st.order.size() != data.size()) {
    throw Error("the saved training state is for " + std::to_string(st.order.size()) + " examples, the data has " +
                std::to_string(data.size()));
  } else {
    st.optimizer.set_config(o.adam);  // hyper-parameters come from the options, moments from the state
  }
  std::mt19937_64& rng = st.rng;
  std::vector<size_t>& order = st.order;
  size_t& cursor = st.cursor;
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
  AdamW& opt = st.optimizer;
  const int64_t end = o.stop_after > 0 ? std::min(o.steps, o.stop_after) : o.steps;
  // Freed activations stay in the heap for the next sample: without this glibc hands large
  // blocks back to the kernel and every sample pays page faults and zeroing for them again.
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  Grads grads;  // only the tensors that train; reused by every step
  for (const auto& [name, v] : params.values)
    if (trains(name, o.train)) grads[name].assign(v.size(), 0.f);
  if (grads.empty()) throw Error("--train " + o.train + ": this checkpoint has nothing that trains under that choice");
  for (; st.step < end; ++st.step) {
    const int64_t step = st.step;
    for (auto& [name, g] : grads) std::fill(g.begin(), g.end(), 0.f);
    int64_t total_tokens = 0, sequence_tokens = 0;
    double loss_sum = 0;
    StepTimes times;
    for (int i = 0; i < o.batch * o.accum; ++i) {
      const Example& ex = next_example();
      const int units = m.adaptive() ? int(rng() % uint64_t(m.adaptive()->config.max_units() + 1)) : 0;
      Sample s{ex.tokens.ids, ex.tokens.labels, ex.pixels.empty() ? nullptr : ex.pixels.data()};
      int64_t n = 0;  // supervised tokens: labels after the first position
      for (size_t t = 1; t < ex.tokens.labels.size(); ++t) n += ex.tokens.labels[t] != kIgnoreIndex;
      // The sample's mean loss × n: the step's gradient is then a sum over supervised tokens.
      StepResult r = ada_train_step(m, params, s, units, o.tau, gumbel, grads, float(n));
      times += r.times;
      sequence_tokens += int64_t(r.logits.size()) / m.config().text.vocab_size;
      total_tokens += n;
      loss_sum += r.loss * double(n);
    }
    if (total_tokens == 0) continue;
    for (auto& [name, g] : grads)
      for (float& x : g) x /= float(total_tokens);
    const auto t_opt = std::chrono::steady_clock::now();
    StepLog log;
    log.step = step + 1;
    log.grad_norm = clip_grad_norm(grads, o.clip);
    log.lr = cosine_lr(o.lr, step, o.warmup, o.steps);
    opt.step(params.values, grads, log.lr);
    log.optimizer_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t_opt).count();
    log.loss = loss_sum / double(total_tokens);
    log.tokens = total_tokens;
    log.sequence_tokens = sequence_tokens;
    log.times = times;
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
  const std::string path = dir + "/trainer_state.json";
  std::ofstream out(path + ".tmp");
  out << j.dump() << "\n";
  out.close();
  if (!out || std::rename((path + ".tmp").c_str(), path.c_str()) != 0) throw Error(path + ": write failed");
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
