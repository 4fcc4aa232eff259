#include "adaptive/latency_encoder.h"

#include <cmath>

#include "adaptive/budget.h"
#include "kernels/ops.h"

namespace adallava {

std::vector<float> latency_encoding(int units, const AdaConfig& a) {
  constexpr int half = kLatencyEncodingDim / 2;
  const float x = encoder_angle(encoder_input(units, a), a);
  std::vector<float> e(kLatencyEncodingDim);
  for (int i = 0; i < half; ++i) {
    // torch: 1 / 10000 ** (arange(128) / 128), all in float32.
    const float f = 1.f / std::pow(10000.f, float(i) / float(half));
    e[size_t(i)] = round_to(a.budget_dtype, std::sin(x * f));
    e[size_t(half + i)] = round_to(a.budget_dtype, std::cos(x * f));
  }
  return e;
}

LatencyEncoder LatencyEncoder::load(const TensorStore& store, const std::string& prefix, int hidden,
                                    const AdaConfig& a) {
  LatencyEncoder enc;
  enc.hidden_ = hidden;
  enc.norm_w_ = load_vector(store, prefix + "0.weight", kLatencyEncodingDim);
  enc.norm_b_ = load_vector(store, prefix + "0.bias", kLatencyEncodingDim);
  enc.l1_ = load_linear(store, prefix + "1", hidden, kLatencyEncodingDim, true);
  enc.l2_ = load_linear(store, prefix + "3", hidden, hidden, true);
  const int n = a.max_units() + 1;
  std::vector<float> encodings;
  for (int u = 0; u < n; ++u) {
    const std::vector<float> e = latency_encoding(u, a);
    encodings.insert(encodings.end(), e.begin(), e.end());
  }
  enc.table_ = enc.forward(encodings.data(), n);
  return enc;
}

std::vector<float> LatencyEncoder::forward(const float* encodings, int64_t n, LatencyTrace* trace) const {
  std::vector<float> normed(size_t(n) * kLatencyEncodingDim), mid(size_t(n * hidden_)), out(size_t(n * hidden_));
  layer_norm(normed.data(), encodings, norm_w_.data(), norm_b_.data(), n, kLatencyEncodingDim, kLatencyNormEps);
  l1_.forward(mid.data(), normed.data(), n, Precision::F32);
  if (trace) trace->normed = normed, trace->pre_act = mid;
  gelu_erf(mid.data(), n * hidden_);
  l2_.forward(out.data(), mid.data(), n, Precision::F32);
  return out;
}

}  // namespace adallava

namespace adallava {

std::vector<std::pair<std::string, std::vector<float>>> LatencyEncoder::tensors() const {
  return {{"0.weight", norm_w_},
          {"0.bias", norm_b_},
          {"1.weight", widen_matrix(l1_.w)},
          {"1.bias", l1_.b},
          {"3.weight", widen_matrix(l2_.w)},
          {"3.bias", l2_.b}};
}

}  // namespace adallava
