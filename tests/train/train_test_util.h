// Helpers the training tests share: finite-difference gradient checks and replaying the Gumbel
// noise the authors' training step recorded.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "io/safetensors.h"
#include "train/plan_sampling.h"

namespace adallava::test {

// Central differences (step h) of loss() in every element of x, against the analytic gradient:
// |grad − fd| ≤ tol · max(1, |fd|).
inline void expect_gradient(std::vector<double>& x, const std::vector<double>& grad,
                            const std::function<double()>& loss, const char* what, double h = 1e-6, double tol = 1e-7) {
  ASSERT_EQ(x.size(), grad.size()) << what;
  for (size_t i = 0; i < x.size(); ++i) {
    const double keep = x[i];
    x[i] = keep + h;
    const double up = loss();
    x[i] = keep - h;
    const double down = loss();
    x[i] = keep;
    const double fd = (up - down) / (2 * h);
    EXPECT_NEAR(grad[i], fd, tol * std::max(1.0, std::abs(fd))) << what << " element " << i;
  }
}

// The same for a float forward (the engine's kernels): Richardson-extrapolated central
// differences, (4·D(h/2) − D(h)) / 3, whose error is O(h⁴) plus the forward's rounding over h.
inline void expect_gradient_f32(std::vector<float>& x, const std::vector<float>& grad,
                                const std::function<double()>& loss, const char* what, float h, double tol) {
  ASSERT_EQ(x.size(), grad.size()) << what;
  auto central = [&](size_t i, float step) {
    const float keep = x[i];
    x[i] = keep + step;
    const double up = loss();
    x[i] = keep - step;
    const double down = loss();
    x[i] = keep;
    return (up - down) / (double(x[i] + step) - double(x[i] - step));
  };
  for (size_t i = 0; i < x.size(); ++i) {
    const double fd = (4 * central(i, h / 2) - central(i, h)) / 3;
    EXPECT_NEAR(grad[i], fd, tol * std::max(1.0, std::abs(fd))) << what << " element " << i;
  }
}

// Random f32 tensors by name (uniform in base ± spread) that a TensorStore views: the weights
// of the tiny models the backward tests build.
struct RandomWeights {
  std::map<std::string, std::vector<float>> values;
  std::map<std::string, std::vector<int64_t>> shapes;
  std::mt19937 rng;
  float spread;
  RandomWeights(uint32_t seed, float spread) : rng(seed), spread(spread) {}
  void add(const std::string& name, const std::vector<int64_t>& shape, float base = 0) {
    std::uniform_real_distribution<float> u(-spread, spread);
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    for (int64_t i = 0; i < n; ++i) values[name].push_back(base + u(rng));
    shapes[name] = shape;
  }
  TensorStore store() const {
    TensorStore s;
    for (const auto& [name, v] : values) s.add_view(name, DType::F32, shapes.at(name), v.data());
    return s;
  }
};

// Hands out the recorded draws in order; *used counts how many were taken.
inline train::GumbelSource recorded_noise(const std::vector<float>& noise, size_t* used) {
  *used = 0;
  return [&noise, used](float* g, int64_t n) {
    ASSERT_LE(*used + size_t(n), noise.size()) << "more Gumbel draws than were recorded";
    std::copy(noise.begin() + long(*used), noise.begin() + long(*used + size_t(n)), g);
    *used += size_t(n);
  };
}

}  // namespace adallava::test
