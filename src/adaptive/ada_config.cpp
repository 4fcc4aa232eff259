#include "adaptive/ada_config.h"

#include "tensor/error.h"

namespace adallava {

DType torch_dtype_from_name(const std::string& name) {
  return name == "float16" ? DType::F16 : name == "bfloat16" ? DType::BF16 : DType::F32;
}

const char* torch_dtype_name(DType t) {
  return t == DType::F16 ? "float16" : t == DType::BF16 ? "bfloat16" : "float32";
}

bool is_adallava(const ModelConfig& c) {
  return c.model_type == "ada_llava_llama";
}

namespace {

int get_int(const ModelConfig& c, const char* field, int fallback) {
  if (!c.raw.contains(field) || c.raw[field].is_null()) return fallback;
  if (!c.raw[field].is_number_integer()) throw Error(c.path + ": field " + field + " must be an integer");
  return c.raw[field].get<int>();
}

std::string get_str(const ModelConfig& c, const char* field, const std::string& fallback) {
  if (!c.raw.contains(field) || c.raw[field].is_null()) return fallback;
  if (!c.raw[field].is_string()) throw Error(c.path + ": field " + field + " must be a string");
  return c.raw[field].get<std::string>();
}

}  // namespace

AdaConfig parse_ada_config(const ModelConfig& c) {
  AdaConfig a;
  const TextConfig& t = c.text;
  const int N = t.num_layers;
  // The authors' config class defaults: prefix = half the layers, L, rank 8.
  a.num_prefix_layers = get_int(c, "num_prefix_layers", N / 2);
  if (a.num_prefix_layers < 0 || a.num_prefix_layers >= N)
    throw Error(c.path + ": field num_prefix_layers = " + std::to_string(a.num_prefix_layers) +
                " must be in [0, num_hidden_layers = " + std::to_string(N) + ")");
  const std::string type = get_str(c, "scheduler_type", "L");
  if (type == "L")
    a.type = SchedulerType::L;
  else if (type == "H")
    a.type = SchedulerType::H;
  else
    throw Error(c.path + ": field scheduler_type '" + type + "' is not L or H");
  a.scheduler_rank = get_int(c, "scheduler_rank", 8);
  // The released code rounds the budget in the model's dtype. A checkpoint saved by training
  // stores f32 tensors but keeps the dtype its run rounded in (budget_dtype), so a resumed or
  // fine-tuned run continues exactly.
  const std::string dt = get_str(c, "budget_dtype", get_str(c, "torch_dtype", "float32"));
  a.budget_dtype = torch_dtype_from_name(dt);

  a.num_gated_layers = N - a.num_prefix_layers;
  if (a.type == SchedulerType::H) {
    if (a.scheduler_rank <= 0 || t.num_heads % a.scheduler_rank != 0)
      throw Error(c.path + ": field scheduler_rank = " + std::to_string(a.scheduler_rank) +
                  " must divide num_attention_heads = " + std::to_string(t.num_heads));
    if (t.num_kv_heads != t.num_heads)
      throw Error(c.path + ": scheduler_type H needs one KV head per attention head (num_key_value_heads = " +
                  std::to_string(t.num_kv_heads) + ", num_attention_heads = " + std::to_string(t.num_heads) + ")");
    a.units_per_layer = t.num_heads / a.scheduler_rank;
  }
  a.prefix_units = a.num_prefix_layers * a.units_per_layer;
  a.total_units = N * a.units_per_layer;
  return a;
}

}  // namespace adallava
