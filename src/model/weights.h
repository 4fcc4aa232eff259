// Looking up checked weights in a TensorStore: matrices stay as stored (views into the
// mapping), small vectors (norm gains, biases) are widened to f32 once at load.
#pragma once
#include <string>
#include <vector>

#include "io/safetensors.h"
#include "kernels/matmul.h"

namespace adallava {

WeightView load_matrix(const TensorStore& store, const std::string& name, int64_t rows, int64_t cols);
// A tensor of any rank read as [rows, cols] (e.g. a conv weight [C, 3, P, P] as [C, 3·P·P]).
WeightView load_matrix_as(const TensorStore& store, const std::string& name, const std::vector<int64_t>& shape,
                          int64_t rows, int64_t cols);
std::vector<float> load_vector(const TensorStore& store, const std::string& name, int64_t n);
// A copy of a matrix view widened to f32, row-major [rows, cols] (training keeps f32 masters).
std::vector<float> widen_matrix(const WeightView& w);

// A linear layer: y = x·Wᵀ + b (b empty when the layer has no bias).
struct Linear {
  WeightView w;
  std::vector<float> b;
  const float* bias() const { return b.empty() ? nullptr : b.data(); }
  int64_t out_features() const { return w.rows; }
  int64_t in_features() const { return w.cols; }
  // y (T, out) = x (T, in) · Wᵀ + b
  void forward(float* y, const float* x, int64_t T, Precision p) const {
    matmul(y, w.rows, x, w.cols, T, w, bias(), p);
  }
};

Linear load_linear(const TensorStore& store, const std::string& prefix, int64_t out, int64_t in, bool with_bias);

}  // namespace adallava
