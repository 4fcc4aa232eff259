#include "generate/sampler.h"

#include <gtest/gtest.h>

#include <set>

namespace adallava {
namespace {

TEST(Sampler, GreedyTakesFirstMaximum) {
  std::vector<float> l = {0.1f, 3.f, 3.f, -1.f};
  EXPECT_EQ(Sampler({}).sample(l.data(), 4), 1);
}

TEST(Sampler, SeedReproducesAndTopKLimits) {
  std::vector<float> l = {1.f, 1.1f, 0.9f, 1.05f, -5.f};
  SamplingParams p{1.0f, 2, 1.0f, 42};
  Sampler a(p), b(p);
  std::set<int64_t> seen;
  for (int i = 0; i < 200; ++i) {
    int64_t x = a.sample(l.data(), 5);
    EXPECT_EQ(x, b.sample(l.data(), 5));
    seen.insert(x);
  }
  EXPECT_EQ(seen, (std::set<int64_t>{1, 3}));
}

TEST(Sampler, TopPKeepsTheNucleus) {
  std::vector<float> l = {5.f, 0.f, 0.f, 0.f};  // token 0 holds ~98% of the mass
  Sampler s({1.0f, 0, 0.5f, 7});
  for (int i = 0; i < 50; ++i) EXPECT_EQ(s.sample(l.data(), 4), 0);
}

}  // namespace
}  // namespace adallava
