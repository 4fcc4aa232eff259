// Training-time plan sampling as the authors train (spec §4.3, §4.5): "n-times masked
// Gumbel-softmax" with the straight-through estimator. Each of the `units` draws adds fresh
// Gumbel noise to the scheduler logits, masks what is already picked, and takes the argmax (L)
// or, for H, picks a layer from all gated entries and then the top-r heads and top-r MLP groups
// of that layer. The forward value of the plan is the hard k-hot sample; its gradient flows
// through the soft draws. tau only shapes the gradient.
#pragma once
#include <cstdint>
#include <functional>
#include <random>
#include <vector>

namespace adallava::train {

// Fills n Gumbel(0, 1) draws: g = −log(E), E ~ Exponential(1). Called once per draw, in the
// authors' order (L: one [n_gated] draw per unit; H: per unit [n_gated·2·n_heads], then
// [n_heads] for the heads and [n_heads] for the MLP groups of the picked layer).
using GumbelSource = std::function<void(float* g, int64_t n)>;

// The trainer's source: Gumbel(0, 1) from `stream`, times `scale`. The authors' sampler is
// scale 1 (the plan is a draw from softmax(logits)); scale s draws it from softmax(logits / s),
// and 0 always takes the top plan. The source keeps a reference to `stream`.
GumbelSource scaled_gumbel(std::mt19937_64& stream, float scale);

// What one unit's draws leave for the backward.
struct UnitDraw {
  std::vector<float> soft;       // the soft sample of the (layer) draw, 0 where masked
  std::vector<float> layer_hot;  // H: the picked layer's straight-through one-hot [n_gated]
  std::vector<float> sub;        // H: that layer's logits [2·n_heads]
  std::vector<float> m;          // H: straight-through head/group picks [2·n_heads]
  std::vector<float> sub_soft;   // H: soft samples of the two top-r draws [2·n_heads]
};

struct SampledPlan {
  // Straight-through plan values as the forward uses them: L [n_gated], H [n_gated][2][n_heads]
  // (y_hard − y_soft + y_soft per draw, summed: 0/1 up to an ulp).
  std::vector<float> plan;
  std::vector<float> hard;  // the sample, exactly 0/1
  std::vector<UnitDraw> draws;
};

SampledPlan sample_plan_L(const std::vector<float>& logits, int units, float tau, const GumbelSource& noise);
SampledPlan sample_plan_H(const std::vector<float>& logits, int units, int n_gated, int n_heads, int rank, float tau,
                          const GumbelSource& noise);

// Gradient of the loss with respect to the scheduler logits, given its gradient with respect
// to the plan values (straight-through: through the soft samples only; masks and picks fixed).
std::vector<float> sample_plan_backward_L(const SampledPlan& s, const std::vector<float>& dplan, float tau);
std::vector<float> sample_plan_backward_H(const SampledPlan& s, const std::vector<float>& logits,
                                          const std::vector<float>& dplan, int n_gated, int n_heads, float tau);

}  // namespace adallava::train
