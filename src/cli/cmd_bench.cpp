// adallava bench --synthetic PRESET: speed of the real model shapes with random weights.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <sstream>

#include "adaptive/budget.h"
#include "bench/compute_probe.h"
#include "bench/concurrent_bench.h"
#include "model/batched_layers.h"
#include "model/batched_layers.h"
#include "bench/memory_probe.h"
#include "bench/synthetic_model.h"
#include "report/stats.h"
#include "bench/train_step_bench.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "adaptive/deadline.h"
#include "bench/deadline_bench.h"
#include "bench/deadline_plot.h"
#include "bench/selection_bench.h"
#include "generate/sampler.h"
#include "generate/session.h"
#include "io/parse_number.h"
#include "tensor/error.h"

namespace adallava::cli {

namespace {

struct BenchOptions {
  std::string preset, dtype = "bf16", variant = "L", budgets = "1";
  std::string kernels;  // a kernel set to force (empty: the fastest per operation)
  int threads = 0, prompt_tokens = 600, decode_tokens = 16, repeats = 1;
  std::string token_selection;  // empty: none measured (the deadline bench: the checkpoint's)
  bool json = false;
  bool train_step = false;  // measure training steps instead of inference
  TrainStepBenchOptions train;
  // The deadline benchmark: requests against a deadline under each policy.
  ModelOptions model;  // -m: a real model instead of --synthetic
  std::string deadline_ms, policies = "adaptive,fixed:1,static";
  std::string plot, load_log;  // charts of the run, and the harness's load log for them
  std::string write_gguf;      // write the synthetic model as a llama.cpp GGUF instead of measuring
  std::string concurrent;      // batched decode at these concurrency levels (1,2,4,8)
  std::string spans = "measured";  // how batched steps cut differing slices (batch_spans.h)
  DeadlineBenchOptions deadline;
};

void print_json(const nlohmann::json& j, bool one_line) {
  std::printf("%s\n", one_line ? j.dump().c_str() : j.dump(2).c_str());
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::vector<double> parse_budget_list(const std::string& list) {
  if (list == "mixed") return {1.0, 0.75, 0.5};
  std::vector<double> out;
  std::stringstream ss(list);
  std::string item;
  while (std::getline(ss, item, ',')) out.push_back(parse_budget(item, "--budgets element"));
  if (out.empty()) throw Error("--budgets is empty");
  return out;
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

// The synthetic model of the preset, after checking it fits in memory.
std::unique_ptr<LlavaModel> build_model(const BenchOptions& o, const ModelConfig& cfg, DType dtype, double* build_s) {
  const size_t need = synthetic_weight_bytes(cfg, dtype);
  const size_t avail = available_memory_bytes();
  if (avail && need > avail)
    throw Error("--synthetic " + o.preset + " --dtype " + o.dtype + " needs " + std::to_string(need >> 20) +
                " MiB of weights but only " + std::to_string(avail >> 20) + " MiB are available");
  const auto t0 = std::chrono::steady_clock::now();
  auto model = build_synthetic_model(cfg, dtype, 42);
  *build_s = seconds_since(t0);
  return model;
}

nlohmann::json train_step_report(const BenchOptions& o, const LlavaModel& model) {
  nlohmann::json j = {{"preset", o.preset}, {"dtype", o.dtype}, {"threads", omp_get_max_threads()},
                      {"kernels", kernels_json()}};
  if (model.adaptive()) j["variant"] = o.variant;
  j.update(bench_train_step(model, o.train));
  j["fma_peak_gflops"] = measure_fma_peak_gflops();  // same run: the machine is shared
  j["gemm_fraction_of_fma_peak"] = j["gemm_gflops"].get<double>() / j["fma_peak_gflops"].get<double>();
  j["peak_rss_bytes"] = peak_rss_bytes();
  return j;
}

// Seconds to encode one image of random pixels (drawn from rng), after one encode to warm up,
// as the prefill is measured.
double time_vision(const LlavaModel& model, Precision precision, std::mt19937& rng) {
  const int S = model.config().vision.image_size;
  std::vector<float> pixels(size_t(3 * S * S));
  std::normal_distribution<float> dist(0.f, 1.f);
  for (auto& p : pixels) p = dist(rng);
  model.encode_image(pixels.data(), precision);  // warm-up: first-touch pages, thread pool, tile state
  const auto t0 = std::chrono::steady_clock::now();
  model.encode_image(pixels.data(), precision);
  return seconds_since(t0);
}

// What the rounds measured for one budget (fastest round for the times).
struct Measured {
  PlanReport rep;
  size_t kv_bytes = 0;
  double prefill_ms = 1e300, decode_ms = 1e300, scheduler_ms = 1e300;
  std::vector<double> token_s, probe_gbps;  // paired, over all rounds
};

struct Rounds {
  std::vector<Measured> per_budget;
  std::vector<double> probes;             // every probe over the weights
  std::vector<double> plain_gbps;         // every 1 GiB read
  std::vector<double> decode_over_plain;  // first budget: each token's GB/s over the read after it
  size_t plain_bytes = 0;                 // the 1 GiB buffer, resident since the first token
};

// Each budget measured `repeats` times, rounds interleaved so that the machine's drift hits
// every budget alike. The machine is shared: its bandwidth moves by 2x within seconds, so every
// decoded token is paired with a bandwidth probe over the weights taken right after it, and with
// a plain read of 1 GiB (the second yardstick, which the probe should match). That buffer is made
// at the first decoded token: filled right before a prefill, it slowed that prefill by 10-15% on
// Zen 5 (measured, A/B).
Rounds measure_rounds(const LlavaModel& model, const std::vector<float>& embeds, const std::vector<double>& budgets,
                      const BenchOptions& o, Precision precision) {
  const int64_t V = model.decoder().vocab();
  const auto spans = model.weight_spans();
  Rounds out;
  out.per_budget.resize(budgets.size());
  std::optional<ReadBuffer> plain_read;
  for (int round = 0; round < o.repeats; ++round)
    for (size_t b = 0; b < budgets.size(); ++b) {
      Measured& m = out.per_budget[b];
      Session s(model, o.prompt_tokens + 1 + o.decode_tokens, precision);
      std::vector<float> logits;
      PlanRequest request;
      request.budget = budgets[b];
      auto t0 = std::chrono::steady_clock::now();
      m.rep = s.prefill(embeds.data(), o.prompt_tokens, request, logits);
      m.prefill_ms = std::min(m.prefill_ms, seconds_since(t0) * 1000);
      const double bytes_per_token = double(model.decoder().weight_bytes(&m.rep.plan));
      double decode_s = 0;
      for (int i = 0; i < o.decode_tokens; ++i) {
        t0 = std::chrono::steady_clock::now();
        s.feed_token(argmax(logits.data(), V), logits);
        const double token_s = seconds_since(t0);
        decode_s += token_s;
        m.token_s.push_back(token_s);
        m.probe_gbps.push_back(measure_read_bandwidth(spans, 1));
        out.probes.push_back(m.probe_gbps.back());
        if (!plain_read) plain_read.emplace();
        out.plain_gbps.push_back(plain_read->measure());
        if (b == 0) out.decode_over_plain.push_back(bytes_per_token / token_s / (out.plain_gbps.back() * 1e9));
      }
      m.decode_ms = std::min(m.decode_ms, decode_s * 1000);
      m.scheduler_ms = std::min(m.scheduler_ms, m.rep.scheduler_ms);
      m.kv_bytes = s.cache().bytes();
    }
  out.plain_bytes = plain_read ? plain_read->bytes() : 0;
  return out;
}

// One budget's entry of "results"; full: the first budget's measurements.
nlohmann::json budget_result(const LlavaModel& model, double budget, const Measured& m, const Measured& full,
                             const BenchOptions& o) {
  const PlanReport& rep = m.rep;
  const size_t bytes_per_token = model.decoder().weight_bytes(&rep.plan);
  std::vector<double> paired;
  for (size_t i = 0; i < m.token_s.size(); ++i)
    paired.push_back(double(bytes_per_token) / m.token_s[i] / (m.probe_gbps[i] * 1e9));
  nlohmann::json r;
  r["budget"] = budget;
  r["units"] = rep.adaptive ? nlohmann::json(rep.units) : nlohmann::json(nullptr);
  r["executed_fraction"] = rep.executed_fraction;
  r["executed_layers"] = rep.plan.executed_layers().size();
  r["llm_prefill_ms"] = m.prefill_ms;
  r["prefill_tokens_per_s"] = o.prompt_tokens * 1000.0 / m.prefill_ms;
  r["decode_tokens_per_s"] = o.decode_tokens * 1000.0 / m.decode_ms;
  r["scheduler_ms"] = m.scheduler_ms;
  r["kv_cache_bytes"] = m.kv_bytes;
  r["weight_bytes_per_token"] = bytes_per_token;
  r["decode_fraction_of_roofline"] = median(paired);
  // Time relative to the first (full) budget, divided by the executed share: 1 = skipping is free.
  r["prefill_time_over_expected"] = m.prefill_ms / (rep.executed_fraction * full.prefill_ms);
  r["decode_time_over_expected"] = m.decode_ms / (rep.executed_fraction * full.decode_ms);
  r["scheduler_share_of_full_request"] = m.scheduler_ms / (full.prefill_ms + full.decode_ms);
  return r;
}

std::vector<int> parse_levels(const std::string& list) {
  std::vector<int> out;
  std::stringstream ss(list);
  for (std::string item; std::getline(ss, item, ',');) {
    const std::optional<int64_t> c = parse_integer(item);
    if (!c || *c < 1 || *c > kMaxBatch)
      throw Error("--concurrent: '" + item + "' is not a request count between 1 and " + std::to_string(kMaxBatch));
    out.push_back(int(*c));
  }
  if (out.empty()) throw Error("--concurrent is empty");
  return out;
}

// Batched decode of requests with mixed plans, against one at a time and a full-plan batch.
void concurrent_bench(const BenchOptions& o, const LlavaModel& model, Precision precision) {
  ConcurrentBenchOptions c;
  c.levels = parse_levels(o.concurrent);
  c.budgets = parse_budget_list(o.budgets);
  c.prompt_tokens = o.prompt_tokens;
  c.decode_tokens = o.decode_tokens;
  c.repeats = o.repeats;
  c.precision = precision;
  set_span_mode(parse_span_mode(o.spans.c_str()));
  if (!model.adaptive() && (c.budgets.size() != 1 || c.budgets[0] != 1.0))
    throw Error("--budgets needs an AdaLLaVA preset (ada-llava-7b, ...)");
  nlohmann::json j = bench_concurrent(model, c);
  j["preset"] = o.preset;
  if (model.adaptive()) j["variant"] = o.variant;
  j["spans"] = o.spans;
  if (o.spans == "measured") {  // the fit the choice used (measured now if no step needed it)
    const ProductCost pc = batched_product_cost(model.decoder(), precision);
    j["product_cost"] = {{"per_call_us", pc.per_call_s * 1e6}, {"weight_gb_per_s", 1e-9 / pc.per_byte_s},
                         {"gmac_per_s", 1e-9 / pc.per_mac_s}};
  }
  j["dtype"] = o.preset.empty() ? dtype_name(model.decoder().layer(0).gate.w.dtype) : o.dtype;
  j["threads"] = omp_get_max_threads();
  j["kernels"] = kernels_json();
  print_json(j, o.json);
}

// Requests against a deadline: scenes with answers for a real model that has a tokenizer,
// random prompts of the preset's shapes otherwise.
void deadline_bench(const BenchOptions& o) {
  DeadlineBenchOptions d = o.deadline;
  d.deadline_ms = parse_deadline_ms(o.deadline_ms, "--deadline-ms");
  d.max_new_tokens = o.decode_tokens;
  d.token_selection = PlanOptions::parse_token_selection(o.token_selection);
  d.policies.clear();
  std::stringstream ss(o.policies);
  for (std::string p; std::getline(ss, p, ',');) d.policies.push_back(p);
  std::unique_ptr<Engine> engine;
  if (!o.model.model_dir.empty()) {
    engine = o.model.load_engine();
  } else {
    const ModelConfig cfg = synthetic_config(o.preset, o.variant);
    const DType dtype = parse_weight_dtype(o.dtype);
    double build_s = 0;
    engine = std::make_unique<Engine>(build_model(o, cfg, dtype, &build_s), o.model.engine_options());
  }
  const std::vector<BenchRequest> requests = engine->tokenizer() && engine->model().has_vision()
                                                 ? scene_requests(*engine, d.requests, d.seed)
                                                 : random_requests(*engine, d.requests, o.prompt_tokens, d.seed);
  nlohmann::json j = bench_deadline(*engine, requests, d);
  j["model"] = o.model.model_dir.empty() ? o.preset : o.model.model_dir;
  j["threads"] = omp_get_max_threads();
  j["kernels"] = kernels_json();
  if (!o.plot.empty()) plot_deadline_run(j, o.load_log, o.plot);
  print_json(j, o.json);
}

void bench(const BenchOptions& o) {
  if (o.threads > 0) omp_set_num_threads(o.threads);
  apply_kernels_option(o.kernels);
  if (!o.deadline_ms.empty()) return deadline_bench(o);
  if (o.preset.empty() && o.model.model_dir.empty()) throw Error("bench: give --synthetic PRESET or -m MODEL");
  if (!o.write_gguf.empty()) {
    if (o.preset.empty()) throw Error("--write-gguf goes with --synthetic");
    write_synthetic_gguf(synthetic_config(o.preset, o.variant), parse_weight_dtype(o.dtype), o.write_gguf, 42);
    return std::printf("wrote %s\n", o.write_gguf.c_str()), void();
  }
  double build_s = 0;
  std::unique_ptr<LlavaModel> model;
  if (o.preset.empty()) {  // a model from files (a GGUF, a folder): its own shapes and types
    const auto t0 = std::chrono::steady_clock::now();
    model = o.model.load();
    build_s = seconds_since(t0);
  } else {
    model = build_model(o, synthetic_config(o.preset, o.variant), parse_weight_dtype(o.dtype), &build_s);
  }
  const ModelConfig& cfg = model->config();
  if (o.train_step) return print_json(train_step_report(o, *model), o.json);
  const Precision precision = o.model.resolve_precision(*model);
  if (!o.concurrent.empty()) return concurrent_bench(o, *model, precision);
  std::mt19937 rng(1);
  const double vision_s = model->has_vision() ? time_vision(*model, precision, rng) : 0.0;

  // Decoder prefill of a prompt of random token ids, then greedy decode steps, per budget.
  const int64_t H = cfg.text.hidden_size, V = cfg.text.vocab_size;
  std::vector<int64_t> ids(size_t(o.prompt_tokens));
  for (auto& id : ids) id = int64_t(rng() % uint64_t(V - 1));
  std::vector<float> embeds(size_t(o.prompt_tokens * H));
  model->decoder().embed(embeds.data(), ids.data(), o.prompt_tokens);
  const std::vector<double> budgets = parse_budget_list(o.budgets);
  if (!model->adaptive() && (budgets.size() != 1 || budgets[0] != 1.0))
    throw Error("--budgets needs an AdaLLaVA preset (ada-llava-7b, ...)");
  {  // Warm-up (page faults, thread pool, caches) so the first measured budget is not penalised.
    Session warm(*model, 34, precision);
    std::vector<float> logits;
    warm.prefill(embeds.data(), std::min<int64_t>(o.prompt_tokens, 32), PlanRequest{}, logits);
    warm.feed_token(argmax(logits.data(), V), logits);
  }
  const Rounds rounds = measure_rounds(*model, embeds, budgets, o, precision);
  nlohmann::json results = nlohmann::json::array();
  for (size_t b = 0; b < budgets.size(); ++b)
    results.push_back(budget_result(*model, budgets[b], rounds.per_budget[b], rounds.per_budget[0], o));

  const nlohmann::json& full = results[0];
  const double gbps = median(rounds.probes);
  const double bytes_per_token = double(full["weight_bytes_per_token"].get<size_t>());
  nlohmann::json j;
  j["preset"] = o.preset;
  if (!o.preset.empty() && model->adaptive()) j["variant"] = o.variant;
  if (o.preset.empty()) j["model"] = o.model.model_dir;
  j["dtype"] = o.preset.empty() ? dtype_name(model->decoder().layer(0).gate.w.dtype) : o.dtype;
  j["precision"] = precision_name(precision);
  j["threads"] = omp_get_max_threads();
  j["kernels"] = kernels_json();
  j["model_build_s"] = build_s;
  size_t weights_bytes = 0;
  for (const auto& [p, n] : model->weight_spans()) weights_bytes += n;
  j["weights_bytes"] = weights_bytes;
  j["vision_encode_ms"] = vision_s * 1000;
  j["prefill_tokens"] = o.prompt_tokens;
  j["prefill_ms"] = full["llm_prefill_ms"];
  j["prefill_tokens_per_s"] = full["prefill_tokens_per_s"];
  j["decode_tokens"] = o.decode_tokens;
  j["decode_tokens_per_s"] = full["decode_tokens_per_s"];
  j["weight_bytes_per_token"] = full["weight_bytes_per_token"];
  j["dram_read_gb_per_s"] = gbps;  // median of the probes paired with the decoded tokens
  j["dram_probe_gb_per_s_min_max"] = {*std::min_element(rounds.probes.begin(), rounds.probes.end()),
                                      *std::max_element(rounds.probes.begin(), rounds.probes.end())};
  j["decode_roofline_tokens_per_s"] = gbps * 1e9 / bytes_per_token;
  j["decode_fraction_of_roofline"] = full["decode_fraction_of_roofline"];
  j["decode_gb_per_s"] = bytes_per_token / median(rounds.per_budget[0].token_s) / 1e9;
  j["read_1gib_gb_per_s"] = median(rounds.plain_gbps);
  j["decode_fraction_of_1gib_read"] = median(rounds.decode_over_plain);  // paired per token, as the roofline
  j["kv_cache_bytes"] = full["kv_cache_bytes"];
  j["peak_rss_bytes"] = peak_rss_bytes() - rounds.plain_bytes;  // the model's, without the probe's buffer
  if (model->adaptive()) j["results"] = results;
  if (const auto sel = PlanOptions::parse_token_selection(o.token_selection)) {
    SelectionBenchOptions s;
    s.selection = *sel;
    s.budget = budgets[0];
    s.precision = precision;
    s.repeats = std::max(o.repeats, 3);
    j["token_selection"] = bench_token_selection(*model, s);
  }
  print_json(j, o.json);
}

}  // namespace

void register_bench(CLI::App& app) {
  auto o = std::make_shared<BenchOptions>();
  CLI::App* sub = app.add_subcommand("bench", "measure speed on a model of real shapes with random weights");
  auto* synthetic =
      sub->add_option("--synthetic", o->preset, "llava-7b, llava-13b, llava-mini, llava-small, llava-tiny, or ada- + one of them (AdaLLaVA)");
  auto* model = sub->add_option("-m,--model", o->model.model_dir, "a model (folder or GGUF) instead of --synthetic");
  synthetic->excludes(model);
  sub->add_option("--mmproj", o->model.mmproj, "with a GGUF -m: its mmproj file");
  sub->add_option("--write-gguf", o->write_gguf,
                  "with --synthetic: write its decoder as a llama.cpp GGUF of --dtype (for llama-bench) and stop");
  sub->add_option("--concurrent", o->concurrent,
                  "batched decode: requests at once per level (1,2,4,8), against one at a time; --budgets mixed = 1,0.75,0.5");
  sub->add_option("--spans", o->spans,
                  "with --concurrent: split each layer's differing head/group slices into products, mask them into "
                  "wider ones, or take the cheaper by measured cost")
      ->check(CLI::IsMember({"measured", "split", "mask"}));
  sub->add_option("--deadline-ms", o->deadline_ms, "deadline benchmark: every request's deadline in ms");
  sub->add_option("--requests", o->deadline.requests, "with --deadline-ms: requests per policy")
      ->check(CLI::Range(1, 100000));
  sub->add_option("--arrival", o->deadline.arrival, "with --deadline-ms: poisson:RATE (requests/s); default back to back");
  sub->add_option("--policy", o->policies, "with --deadline-ms: adaptive, static, fixed:BUDGET (comma separated)");
  ModelOptions::add_calibration_cache(*sub, o->model.calibration_cache);
  sub->add_option("--seed", o->deadline.seed, "with --deadline-ms: seed of the requests and arrivals");
  sub->add_option("--plot", o->plot, "with --deadline-ms: latency over time as SVG (and its -budget twin)");
  sub->add_option("--load-log", o->load_log, "with --plot: bench/contention.sh's --log, to show when the load was on");
  PlanOptions::add_token_selection(*sub, o->token_selection);
  sub->add_option("--dtype", o->dtype, "weight dtype: bf16, f16, f32, or llama.cpp's q8_0, q4_0, q4_k (decoder matrices)")
      ->check(CLI::IsMember({"bf16", "f16", "f32", "q8_0", "q4_0", "q4_k"}));
  sub->add_option("--precision", o->model.precision, "f32, bf16 or q8 products (default as for run)")
      ->check(CLI::IsMember({"f32", "bf16", "q8"}));
  sub->add_option("-t,--threads", o->threads, "threads")->check(CLI::Range(1, 1024));
  sub->add_option("--kernels", o->kernels,
                  "kernel set to measure: auto (the fastest per operation, the default), portable, avx2, avx512, "
                  "avx512-bf16 or amx");
  sub->add_option("--prompt-tokens", o->prompt_tokens, "prefill length")->check(CLI::Range(1, 4000));
  sub->add_option("--decode-tokens", o->decode_tokens, "decode steps")->check(CLI::Range(1, 1000));
  sub->add_option("--variant", o->variant, "AdaLLaVA presets: L (layers) or H (heads and neuron groups)")
      ->check(CLI::IsMember({"L", "H"}));
  sub->add_option("--budgets", o->budgets, "AdaLLaVA presets: budgets to measure, the first as the reference (1,0.85,...)");
  sub->add_option("--repeats", o->repeats, "measure each budget this many times (interleaved), keep the fastest")
      ->check(CLI::Range(1, 100));
  sub->add_flag("--train-step", o->train_step,
                "measure training steps (forward, backward, AdamW) instead of inference; use --dtype f32");
  sub->add_option("--train", o->train.train, "with --train-step: what trains")
      ->check(CLI::IsMember({"all", "no-vision", "scheduler"}));
  sub->add_option("--batch", o->train.batch, "with --train-step: samples per step")->check(CLI::Range(1, 4096));
  sub->add_option("--steps", o->train.steps, "with --train-step: measured steps")->check(CLI::Range(1, 10000));
  sub->add_option("--text-tokens", o->train.text_tokens, "with --train-step: text tokens per sample")
      ->check(CLI::Range(5, 4000));
  sub->add_flag("--json", o->json, "one JSON object on one line");
  sub->callback([o]() { bench(*o); });
}

}  // namespace adallava::cli
