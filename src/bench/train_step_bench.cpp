#include "bench/train_step_bench.h"

#include <algorithm>
#include <chrono>
#include <omp.h>
#include <random>

#include "tensor/error.h"
#include "train/grad_ops.h"
#include "train/trainer.h"

namespace adallava {

nlohmann::json bench_train_step(const LlavaModel& m, const TrainStepBenchOptions& o) {
  if (!m.has_vision()) throw OptionError("train_step", "needs a preset with a vision tower");
  train::Params params = train::Params::from_model(m, o.train == "all");
  // Samples: an image, random text, the last 4 tokens supervised (a short answer and </s>).
  const VisionConfig& vc = m.config().vision;
  std::mt19937 rng(1);
  std::normal_distribution<float> pixel(0.f, 1.f);
  std::vector<train::Example> data(size_t(o.batch));
  for (train::Example& ex : data) {
    ex.pixels.resize(size_t(3 * vc.image_size * vc.image_size));
    for (float& p : ex.pixels) p = pixel(rng);
    ex.tokens.ids = {m.config().text.bos_token_id, m.config().image_token_id};
    for (int i = 0; i < o.text_tokens; ++i)
      ex.tokens.ids.push_back(3 + int64_t(rng() % uint64_t(m.config().text.vocab_size - 4)));
    ex.tokens.labels.assign(ex.tokens.ids.size(), train::kIgnoreIndex);
    for (size_t i = ex.tokens.ids.size() - 4; i < ex.tokens.ids.size(); ++i) ex.tokens.labels[i] = ex.tokens.ids[i];
  }
  train::TrainOptions t;
  t.batch = o.batch;
  t.steps = o.steps + 1;
  t.lr = 1e-4;
  t.train = o.train;
  struct Phase {
    double total_ms = 0, optimizer_ms = 0;
    int64_t tokens = 0;
    train::StepTimes times;
    double gemm_flops = 0, gemm_s = 0;
  } acc;
  matmul_counter().on = true;
  auto t0 = std::chrono::steady_clock::now();
  train::train(m, params, data, t, [&](const train::StepLog& l) {
    const auto now = std::chrono::steady_clock::now();
    const double ms = std::chrono::duration<double, std::milli>(now - t0).count();
    t0 = now;
    if (l.step > 1) {  // the first step warms caches and allocations
      acc.total_ms += ms;
      acc.optimizer_ms += l.optimizer_ms;
      acc.tokens += l.sequence_tokens;
      acc.times += l.times;
      acc.gemm_flops += matmul_counter().flops;
      acc.gemm_s += matmul_counter().seconds;
    }
    matmul_counter().reset();
  });
  matmul_counter().on = false;
  const double n = o.steps;
  // Samples of a step run one per thread, so product time is summed over that many threads:
  // their aggregate rate is the work over the per-thread time divided by that concurrency.
  const int concurrency = std::max(1, std::min(o.batch, omp_get_max_threads()));
  const double gemm_wall_s = acc.gemm_s / concurrency;
  const double gemm_gflops = acc.gemm_flops / gemm_wall_s / 1e9;
  nlohmann::json j;
  j["train"] = o.train;
  j["batch"] = o.batch;
  j["steps"] = o.steps;
  j["sequence_tokens_per_sample"] = double(acc.tokens) / n / o.batch;
  j["step_ms"] = acc.total_ms / n;
  j["tokens_per_s"] = double(acc.tokens) / (acc.total_ms / 1000);
  j["samples_per_s"] = n * o.batch / (acc.total_ms / 1000);
  // Phase times are summed over the samples, so with samples on several threads they add up to
  // about sample_threads × step_ms.
  j["split_thread_ms_per_step"] = {{"vision_forward", acc.times.vision_forward / n},
                            {"llm_forward", acc.times.llm_forward / n},
                            {"llm_backward", acc.times.llm_backward / n},
                            {"vision_backward", acc.times.vision_backward / n},
                            {"optimizer", acc.optimizer_ms / n}};
  j["sample_threads"] = concurrency;
  j["gemm_ms_per_step"] = gemm_wall_s * 1000 / n;
  j["gemm_share_of_step"] = gemm_wall_s * 1000 / acc.total_ms;
  j["gemm_gflops"] = gemm_gflops;
  j["trainable_params"] = [&] {
    int64_t k = 0;
    for (const auto& [name, v] : params.values)
      if (train::trains(name, o.train, m)) k += int64_t(v.size());
    return k;
  }();
  return j;
}

}  // namespace adallava
