#include "generate/sampler.h"

#include <algorithm>
#include <cmath>

namespace adallava {

int64_t argmax(const float* x, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i)
    if (x[i] > x[best]) best = i;
  return best;
}

Sampler::Sampler(const SamplingParams& p) : p_(p), rng_(p.seed) {}

int64_t Sampler::sample(const float* logits, int64_t vocab) {
  if (p_.temperature <= 0.f) return argmax(logits, vocab);
  cand_.resize(static_cast<size_t>(vocab));
  for (int64_t i = 0; i < vocab; ++i) cand_[size_t(i)] = {logits[i] / p_.temperature, i};
  auto by_logit = [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); };
  size_t keep = cand_.size();
  if (p_.top_k > 0 && size_t(p_.top_k) < keep) {
    keep = size_t(p_.top_k);
    std::partial_sort(cand_.begin(), cand_.begin() + long(keep), cand_.end(), by_logit);
  } else {
    std::sort(cand_.begin(), cand_.end(), by_logit);
  }
  const float mx = cand_[0].first;
  double total = 0;
  for (size_t i = 0; i < keep; ++i) total += std::exp(double(cand_[i].first - mx));
  if (p_.top_p < 1.f) {  // smallest prefix whose probability reaches top_p (at least one token)
    double cum = 0;
    size_t n = 0;
    while (n < keep) {
      cum += std::exp(double(cand_[n].first - mx)) / total;
      ++n;
      if (cum >= p_.top_p) break;
    }
    keep = n;
    total = 0;
    for (size_t i = 0; i < keep; ++i) total += std::exp(double(cand_[i].first - mx));
  }
  double r = std::uniform_real_distribution<double>(0.0, total)(rng_);
  for (size_t i = 0; i < keep; ++i) {
    r -= std::exp(double(cand_[i].first - mx));
    if (r <= 0) return cand_[i].second;
  }
  return cand_[keep - 1].second;
}

}  // namespace adallava
