// New tensors as transformers initialises them: a constant (norm weights 1, biases 0) or
// N(0, std_dev) draws, by Box–Muller on a 64-bit Mersenne Twister, so the same seed gives the
// same weights on every standard library (std::normal_distribution does not).
#pragma once
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace adallava::train {

// rng null: every element is fill; otherwise N(0, std_dev) draws from rng.
inline std::vector<float> init_tensor(const std::vector<int64_t>& shape, double fill, double std_dev,
                                      std::mt19937_64* rng) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  std::vector<float> v(static_cast<size_t>(n), float(fill));
  if (rng)
    for (float& x : v) {
      const double u1 = (double((*rng)() >> 11) + 1.0) / 9007199254740993.0;
      const double u2 = double((*rng)() >> 11) / 9007199254740992.0;
      x = float(std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2) * std_dev);
    }
  return v;
}

}  // namespace adallava::train
