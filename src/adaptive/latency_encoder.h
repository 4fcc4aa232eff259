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
constexpr float kLatencyNormEps = 1e-5f;  // the encoder's LayerNorm (PyTorch's default)

// What the encoder's backward needs from its forward (training).
struct LatencyTrace {
  std::vector<float> normed, pre_act;  // the LayerNorm's output; the first Linear's, before GELU
};

// [sin(x f_i), cos(x f_i)], f_i = 10000^(−i/128), x = encoder_angle(units), rounded to the dtype.
std::vector<float> latency_encoding(int units, const AdaConfig& a);

class LatencyEncoder {
 public:
  // prefix: names::kLatencyEncoder (authors' release) or names::kLatencyEncoderOld.
  static LatencyEncoder load(const TensorStore& store, const std::string& prefix, int hidden, const AdaConfig& a);

  // The latency token (hidden) of a unit count in [0, max_units].
  const float* token(int units) const { return table_.data() + size_t(units) * size_t(hidden_); }
  // Runs the MLP on encodings (n, 256) → (n, hidden); trace, if given, receives what the
  // backward needs.
  std::vector<float> forward(const float* encodings, int64_t n, LatencyTrace* trace = nullptr) const;
  const std::vector<float>& norm_weight() const { return norm_w_; }
  const Linear& first() const { return l1_; }
  const Linear& second() const { return l2_; }
  // The parameters widened to f32, by their names under "net." ("0.weight", ..., "3.bias").
  std::vector<std::pair<std::string, std::vector<float>>> tensors() const;

 private:
  int hidden_ = 0;
  std::vector<float> norm_w_, norm_b_;
  Linear l1_, l2_;
  std::vector<float> table_;  // (max_units + 1, hidden)
};

}  // namespace adallava
