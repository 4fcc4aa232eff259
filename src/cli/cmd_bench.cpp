// adallava bench --synthetic PRESET: speed of the real model shapes with random weights.
#include <omp.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "bench/memory_probe.h"
#include "bench/synthetic_model.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "generate/sampler.h"
#include "generate/session.h"
#include "tensor/error.h"

namespace adallava::cli {

namespace {

struct BenchOptions {
  std::string preset, dtype = "bf16", precision;
  int threads = 0, prompt_tokens = 600, decode_tokens = 16;
  bool json = false;
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

size_t available_memory_bytes() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  size_t kb = 0;
  while (in >> key >> kb) {
    if (key == "MemAvailable:") return kb * 1024;
    in.ignore(256, '\n');
  }
  return 0;
}

void bench(const BenchOptions& o) {
  if (o.threads > 0) omp_set_num_threads(o.threads);
  const ModelConfig cfg = synthetic_config(o.preset);
  const DType dtype = o.dtype == "f32" ? DType::F32 : o.dtype == "f16" ? DType::F16 : DType::BF16;
  const size_t need = synthetic_weight_bytes(cfg, dtype);
  const size_t avail = available_memory_bytes();
  if (avail && need > avail)
    throw Error("--synthetic " + o.preset + " --dtype " + o.dtype + " needs " + std::to_string(need >> 20) +
                " MiB of weights but only " + std::to_string(avail >> 20) + " MiB are available");

  auto t0 = std::chrono::steady_clock::now();
  auto model = build_synthetic_model(cfg, dtype, 42);
  const double build_s = seconds_since(t0);
  const Precision precision = o.precision == "f32"    ? Precision::F32
                              : o.precision == "bf16" ? Precision::BF16
                              : (dtype == DType::BF16 && cpu_has_avx512_bf16() ? Precision::BF16 : Precision::F32);

  // Vision tower on one image of random pixels.
  const int S = cfg.vision.image_size;
  std::vector<float> pixels(size_t(3 * S * S));
  std::mt19937 rng(1);
  std::normal_distribution<float> dist(0.f, 1.f);
  for (auto& p : pixels) p = dist(rng);
  t0 = std::chrono::steady_clock::now();
  std::vector<float> features = model->encode_image(pixels.data(), precision);
  const double vision_s = seconds_since(t0);

  // Decoder prefill of a prompt of random token ids, then greedy decode steps.
  const int64_t H = cfg.text.hidden_size, V = cfg.text.vocab_size;
  std::vector<int64_t> ids(size_t(o.prompt_tokens));
  for (auto& id : ids) id = int64_t(rng() % uint64_t(cfg.text.vocab_size - 1));
  std::vector<float> embeds(size_t(o.prompt_tokens * H));
  model->decoder().embed(embeds.data(), ids.data(), o.prompt_tokens);
  Session s(*model, o.prompt_tokens + o.decode_tokens, ExecutionPlan::full(cfg.text.num_layers), precision);
  std::vector<float> logits;
  t0 = std::chrono::steady_clock::now();
  s.forward(embeds.data(), o.prompt_tokens, logits);
  const double prefill_s = seconds_since(t0);
  t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < o.decode_tokens; ++i) s.feed_token(argmax(logits.data(), V), logits);
  const double decode_s = seconds_since(t0);

  const size_t bytes_per_token = model->decoder().weight_bytes();
  // Bandwidth over the decoder weights, in the same run (the machine is shared and noisy).
  const double gbps = measure_read_bandwidth(model->weight_spans());
  const double decode_tps = o.decode_tokens / decode_s;
  nlohmann::json j;
  j["preset"] = o.preset;
  j["dtype"] = o.dtype;
  j["precision"] = precision_name(precision);
  j["threads"] = omp_get_max_threads();
  j["model_build_s"] = build_s;
  j["weights_bytes"] = need;
  j["vision_encode_ms"] = vision_s * 1000;
  j["prefill_tokens"] = o.prompt_tokens;
  j["prefill_ms"] = prefill_s * 1000;
  j["prefill_tokens_per_s"] = o.prompt_tokens / prefill_s;
  j["decode_tokens"] = o.decode_tokens;
  j["decode_tokens_per_s"] = decode_tps;
  j["weight_bytes_per_token"] = bytes_per_token;
  j["dram_read_gb_per_s"] = gbps;
  j["decode_roofline_tokens_per_s"] = gbps * 1e9 / double(bytes_per_token);
  j["decode_fraction_of_roofline"] = decode_tps * double(bytes_per_token) / (gbps * 1e9);
  j["kv_cache_bytes"] = s.cache().bytes();
  j["peak_rss_bytes"] = peak_rss_bytes();
  if (o.json) {
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("%s", j.dump(2).c_str());
    std::printf("\n");
  }
}

}  // namespace

void register_bench(CLI::App& app) {
  auto o = std::make_shared<BenchOptions>();
  CLI::App* sub = app.add_subcommand("bench", "measure speed on a model of real shapes with random weights");
  sub->add_option("--synthetic", o->preset, "llava-7b, llava-13b or llava-tiny")->required();
  sub->add_option("--dtype", o->dtype, "weight dtype")->check(CLI::IsMember({"bf16", "f16", "f32"}));
  sub->add_option("--precision", o->precision, "f32 or bf16 activations (default as for run)")
      ->check(CLI::IsMember({"f32", "bf16"}));
  sub->add_option("-t,--threads", o->threads, "threads")->check(CLI::Range(1, 1024));
  sub->add_option("--prompt-tokens", o->prompt_tokens, "prefill length")->check(CLI::Range(1, 4000));
  sub->add_option("--decode-tokens", o->decode_tokens, "decode steps")->check(CLI::Range(1, 1000));
  sub->add_flag("--json", o->json, "one JSON object on one line");
  sub->callback([o]() { bench(*o); });
}

}  // namespace adallava::cli
