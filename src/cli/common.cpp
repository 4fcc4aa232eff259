#include "cli/common.h"

#include <omp.h>

#include "adaptive/budget.h"
#include "adaptive/deadline.h"
#include "io/parse_number.h"
#include "kernels/cpu_features.h"
#include "tensor/error.h"
#include "vision/clip_preprocess.h"

namespace adallava::cli {

void ModelOptions::add_to(CLI::App& app, bool model_required) {
  app.add_option("-m,--model", model_dir, "model folder (config.json, model.safetensors), or a llama.cpp GGUF text model")
      ->required(model_required);
  app.add_option("--vision-tower", vision_tower, "CLIP folder for original-LLaVA-layout checkpoints");
  app.add_option("--mmproj", mmproj, "llama.cpp mmproj GGUF (vision tower and projector) for a GGUF -m");
  app.add_option("--precision", precision,
                 "matrix products: f32 (exact), bf16 (bf16-rounded operands) or q8 (quantized weights: 8-bit "
                 "activations, llama.cpp's way). Default: q8 for quantized weights, bf16 for bf16 weights on CPUs "
                 "with AVX512_BF16, else f32")
      ->check(CLI::IsMember({"f32", "bf16", "q8"}));
  app.add_option("-t,--threads", threads, "threads (default: all cores)")->check(CLI::Range(1, 1024));
  app.add_option("--kernels", kernels,
                 "kernel set: auto (the fastest per operation), portable, avx2, avx512, avx512-bf16 or amx");
  add_calibration_cache(app, calibration_cache);
}

void ModelOptions::add_calibration_cache(CLI::App& app, std::string& into) {
  app.add_option("--calibration-cache", into,
                 "folder for the latency calibration a deadline needs, read back by later runs of this model on "
                 "this CPU (default: $ADALLAVA_CACHE_DIR, $XDG_CACHE_HOME/adallava or ~/.cache/adallava); off: none");
}

EngineOptions ModelOptions::engine_options() const {
  EngineOptions eo;
  if (!calibration_cache.empty()) eo.calibration_cache = calibration_cache == "off" ? "" : calibration_cache;
  return eo;
}

std::unique_ptr<LlavaModel> ModelOptions::load() const {
  if (threads > 0) omp_set_num_threads(threads);
  apply_kernels_option(kernels);
  LoadOptions o;
  o.vision_tower_dir = vision_tower;
  o.mmproj = mmproj;
  return LlavaModel::load(model_dir, o);
}

Precision ModelOptions::resolve_precision(const LlavaModel& m) const {
  if (precision == "f32") return Precision::F32;
  if (precision == "bf16") return Precision::BF16;
  if (precision == "q8") return Precision::Q8;
  return default_precision(m);
}

std::unique_ptr<Engine> ModelOptions::load_engine(bool batching, int64_t prefill_chunk) const {
  auto model = load();
  EngineOptions eo = engine_options();
  eo.batching = batching;
  eo.prefill_chunk = prefill_chunk;
  eo.precision = resolve_precision(*model);
  return std::make_unique<Engine>(std::move(model), eo);
}

std::string flags_of(const std::string& option) {
  std::string out = "--";
  for (char c : option) out += c == '_' ? std::string("-") : c == '/' ? std::string("/--") : std::string(1, c);
  return out;
}

void apply_kernels_option(const std::string& name) {
  // Reads and checks ADALLAVA_KERNELS now, before any product runs (an error thrown later,
  // inside a parallel region, could not reach the one-line report).
  active_kernel_set();
  if (name.empty() || name == "auto") return;  // ADALLAVA_KERNELS, or the automatic choice
  const auto k = parse_kernel_set(name);
  if (!k) throw Error("--kernels " + name + ": not a kernel set (auto, portable, avx2, avx512, avx512-bf16, amx)");
  if (*k > cpu_kernel_set())
    throw Error("--kernels " + name + ": this CPU (" + cpu_features().model + ") runs at most " +
                kernel_set_name(cpu_kernel_set()));
  force_kernel_set(*k);
}



DType parse_weight_dtype(const std::string& name) {
  static const std::pair<const char*, DType> kNames[] = {{"f32", DType::F32},   {"f16", DType::F16},
                                                         {"bf16", DType::BF16}, {"q8_0", DType::Q8_0},
                                                         {"q4_0", DType::Q4_0}, {"q4_k", DType::Q4_K}};
  for (const auto& [n, t] : kNames)
    if (name == n) return t;
  throw Error("--dtype " + name + ": not a weight type (f32, f16, bf16, q8_0, q4_0, q4_k)");
}

std::vector<int64_t> parse_ids(const std::string& list) {
  std::vector<int64_t> ids;
  size_t start = 0;
  while (start <= list.size()) {
    size_t end = list.find(',', start);
    if (end == std::string::npos) end = list.size();
    const std::string item = list.substr(start, end - start);
    const std::optional<int64_t> v = parse_integer(item);
    if (!v) throw Error("--ids: '" + item + "' is not an integer token id");
    ids.push_back(*v);
    start = end + 1;
  }
  if (ids.empty()) throw Error("--ids: empty list");
  return ids;
}

std::vector<float> load_pixels(const LlavaModel& model, const std::string& path) {
  if (!model.has_vision()) throw Error(model.dir() + ": this model has no vision tower; drop --image");
  return clip_preprocess(load_image(path), model.preprocess_config());
}

}  // namespace adallava::cli

namespace adallava::cli {

void PlanOptions::add_to(CLI::App& app, bool with_deadline) {
  auto* b = app.add_option("--budget", budget, "latency budget: fraction of the full model in [0, 1] (AdaLLaVA; default 1)");
  if (with_deadline)
    b->excludes(app.add_option("--deadline-ms", deadline_ms,
                               "finish the whole request within this many ms: the engine picks the budget"));
  app.add_option("--plan", plan,
                 "who picks the plan: scheduler (default), early-exit, random, or a layer list such as 0,1,2,5");
  app.add_option("--plan-seed", plan_seed, "seed of --plan random");
  add_token_selection(app, token_selection);
}

void PlanOptions::add_token_selection(CLI::App& app, std::string& into) {
  app.add_option("--token-selection", into,
                 "image tokens: none, prumerge, prumerge+ (chosen before the decoder), fastv or fastv:K,R (the share R "
                 "of image rows dropped from layer K on); default: the checkpoint's token_selecting");
}

std::optional<TokenSelection> PlanOptions::parse_token_selection(const std::string& text) {
  if (text.empty()) return std::nullopt;
  try {
    return TokenSelection::parse(text);
  } catch (const Error& e) {
    throw Error(std::string("--token-selection: ") + e.what());
  }
}

PlanRequest PlanOptions::resolve() const {
  PlanRequest r;
  r.budget = parse_budget(budget, "--budget");
  try {
    r.policy = PlanPolicy::parse(plan);
  } catch (const Error& e) {
    throw Error(std::string("--") + e.what());  // "plan 'x' is ..." names the flag it came from
  }
  r.policy.seed = plan_seed;
  return r;
}

std::optional<double> PlanOptions::deadline() const {
  if (deadline_ms.empty()) return std::nullopt;
  return parse_deadline_ms(deadline_ms, "--deadline-ms");
}

}  // namespace adallava::cli
