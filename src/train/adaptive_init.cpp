#include "train/adaptive_init.h"

#include <cmath>
#include <random>

#include "adaptive/ada_config.h"
#include "adaptive/latency_encoder.h"
#include "tensor/error.h"
#include "train/weight_init.h"

namespace adallava::train {

nlohmann::json make_adaptive(const LlavaModel& plain, Params& params, const AdaptiveInit& init) {
  if (plain.adaptive()) throw Error(plain.dir() + ": --variant turns plain LLaVA into AdaLLaVA; this is AdaLLaVA already");
  const TextConfig& t = plain.config().text;
  ModelConfig c = plain.config();
  c.model_type = "ada_llava_llama";
  c.raw["model_type"] = "ada_llava_llama";
  c.raw["architectures"] = {"AdaLlavaLlamaForCausalLM"};
  c.raw["num_prefix_layers"] = init.prefix < 0 ? t.num_layers / 2 : init.prefix;
  c.raw["scheduler_type"] = init.variant;
  c.raw["scheduler_rank"] = init.rank;
  c.raw["token_selecting"] = "none";
  AdaConfig a;
  try {
    a = parse_ada_config(c);
  } catch (const Error& e) {  // name the flags, not the config fields the user never wrote
    throw Error(std::string("--variant/--prefix/--rank: ") + e.what());
  }
  const double std_dev = c.raw.value("initializer_range", 0.02);
  std::mt19937_64 rng(init.seed ^ 0xada11a7aull);
  auto add = [&](const std::string& name, std::vector<int64_t> shape, double fill, bool random) {
    std::vector<float> v = init_tensor(shape, fill, std_dev, random ? &rng : nullptr);
    params.values[name] = std::move(v);
    params.shapes[name] = std::move(shape);
  };
  const int64_t H = t.hidden_size, E = kLatencyEncodingDim, out = a.head_outputs(t.num_heads);
  const std::string e = "scheduler.scheduler_up_proj.net.";
  add(e + "0.weight", {E}, 1, false);
  add(e + "0.bias", {E}, 0, false);
  add(e + "1.weight", {H, E}, 0, true);
  add(e + "1.bias", {H}, 0, false);
  add(e + "3.weight", {H, H}, 0, true);
  add(e + "3.bias", {H}, 0, false);
  add("scheduler.mlp_head.weight", {out, H}, 0, true);
  add("scheduler.mlp_head.bias", {out}, 0, false);
  return c.raw;
}

}  // namespace adallava::train
