#include "train/adaptive_init.h"

#include <cmath>
#include <random>

#include "adaptive/ada_config.h"
#include "adaptive/latency_encoder.h"
#include "model/tensor_names.h"
#include "tensor/error.h"
#include "train/weight_init.h"

namespace adallava::train {

nlohmann::json make_adaptive(const LlavaModel& plain, Params& params, const AdaptiveInit& init) {
  if (plain.adaptive()) throw OptionError("variant", plain.dir() + " is AdaLLaVA already (a variant turns a plain LLaVA into AdaLLaVA)");
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
  } catch (const Error& e) {  // name the options, not the config fields the user never wrote
    throw OptionError("variant/prefix/rank", e.what());
  }
  const double std_dev = c.raw.value("initializer_range", 0.02);
  std::mt19937_64 rng(init.seed ^ 0xada11a7aull);
  auto add = [&](const std::string& name, std::vector<int64_t> shape, double fill, bool random) {
    std::vector<float> v = init_tensor(shape, fill, std_dev, random ? &rng : nullptr);
    params.values[name] = std::move(v);
    params.shapes[name] = std::move(shape);
  };
  for (names::TensorSpec& s : names::adaptive_tensors(t.hidden_size, a.head_outputs(t.num_heads), kLatencyEncodingDim))
    add(s.name, std::move(s.shape), s.init == names::TensorSpec::Init::Ones ? 1 : 0,
        s.init == names::TensorSpec::Init::Random);
  return c.raw;
}

}  // namespace adallava::train
