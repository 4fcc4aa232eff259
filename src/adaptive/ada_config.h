// The AdaLLaVA fields of a checkpoint's config (authors' AdaLlavaConfig): which layers the
// scheduler controls, at what granularity, and the budget grid that follows from it.
#pragma once
#include <string>

#include "io/hf_config.h"
#include "tensor/dtype.h"

namespace adallava {

enum class SchedulerType { L, H };

struct AdaConfig {
  SchedulerType type = SchedulerType::L;
  int num_prefix_layers = 16;  // always run; the scheduler reads the latency token after them
  int scheduler_rank = 8;      // H: heads (and MLP groups) per unit
  float tau = 5.f;                  // Gumbel-softmax temperature used in training
  DType budget_dtype = DType::F32;  // the model dtype the released code quantizes the budget in

  // Units: L counts layers, H counts slices of scheduler_rank heads + groups of one layer.
  int units_per_layer = 1;
  int prefix_units = 16;  // P
  int total_units = 32;   // T
  int num_gated_layers = 16;
  int max_units() const { return total_units - prefix_units; }
  // Outputs of the scheduler head: one per gated layer (L), or per gated layer, kind, head (H).
  int head_outputs(int n_heads) const {
    return type == SchedulerType::L ? num_gated_layers : num_gated_layers * 2 * n_heads;
  }
};

// torch's dtype names as configs spell them ("float16", "bfloat16"; anything else is f32).
DType torch_dtype_from_name(const std::string& name);
const char* torch_dtype_name(DType t);

bool is_adallava(const ModelConfig& c);
// Reads and checks the AdaLLaVA fields against the decoder's shape; throws Error naming the
// config file and field at fault.
AdaConfig parse_ada_config(const ModelConfig& c);

}  // namespace adallava
