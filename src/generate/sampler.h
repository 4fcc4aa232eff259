// Next-token choice: greedy (temperature 0) or sampling with temperature, top-k and top-p
// from a seeded generator, so a seed reproduces a run.
#pragma once
#include <cstdint>
#include <random>
#include <vector>

namespace adallava {

struct SamplingParams {
  float temperature = 0.f;  // 0: greedy
  int top_k = 0;            // 0: no limit
  float top_p = 1.f;        // 1: no nucleus cut
  uint64_t seed = 0;
};

class Sampler {
 public:
  explicit Sampler(const SamplingParams& p);
  int64_t sample(const float* logits, int64_t vocab);

 private:
  SamplingParams p_;
  std::mt19937_64 rng_;
  std::vector<std::pair<float, int64_t>> cand_;
};

// Index of the largest logit (the first one on ties, as torch.argmax).
int64_t argmax(const float* x, int64_t n);

}  // namespace adallava
