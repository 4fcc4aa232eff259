// The latency encoder: unit count → sinusoidal encoding (256) → "MLP-2x" (LayerNorm, Linear,
// exact GELU, Linear) → the latency token embedding (hidden). Only max_units + 1 inputs exist,
// so every token is computed once at load and looked up per request.
#pragma once
#include <string>
#include <vector>

#include "adaptive/ada_config.h"
#include "io/safetensors.h"
#include "model/weights.h"

namespace adallava {

constexpr int kLatencyEncodingDim = 256;

// [sin(x f_i), cos(x f_i)], f_i = 10000^(−i/128), x = encoder_angle(units), rounded to the dtype.
std::vector<float> latency_encoding(int units, const AdaConfig& a);

class LatencyEncoder {
 public:
  // prefix: "scheduler.scheduler_up_proj.net." (authors' release) or "scheduler_up_proj.net." (older).
  static LatencyEncoder load(const TensorStore& store, const std::string& prefix, int hidden, const AdaConfig& a);

  // The latency token (hidden) of a unit count in [0, max_units].
  const float* token(int units) const { return table_.data() + size_t(units) * size_t(hidden_); }
  // Runs the MLP on encodings (n, 256) → (n, hidden).
  std::vector<float> forward(const float* encodings, int64_t n) const;
  // The parameters widened to f32, by their names under "net." ("0.weight", ..., "3.bias").
  std::vector<std::pair<std::string, std::vector<float>>> tensors() const;

 private:
  int hidden_ = 0;
  std::vector<float> norm_w_, norm_b_;
  Linear l1_, l2_;
  std::vector<float> table_;  // (max_units + 1, hidden)
};

}  // namespace adallava
