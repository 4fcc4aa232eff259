// How a batched step cuts a layer's units into products: split gives the slices, mask one span
// over every unit in use, measured the cheapest cut by a product's cost.
#include "model/batch_spans.h"

#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>

#include "tensor/error.h"

namespace adallava {
namespace {

constexpr RequestSet A = 1, B = 2, C = 4;

// Units 0..7: {A,B} {A,B} {A} {} {} {A,C} {A,C} {}
const std::vector<RequestSet> kUnits = {A | B, A | B, A, 0, 0, A | C, A | C, 0};
const std::vector<int64_t> kOneRowEach = {1, 1, 1};
const PartShape kShape{4, 1000, 100};

ProductCost cost(double call, double byte, double mac) { return {call, byte, mac}; }
std::function<ProductCost()> fixed(ProductCost c) { return [c] { return c; }; }

void expect_span(const Span& s, int first, int count, RequestSet who, bool exact) {
  EXPECT_EQ(s.first, first);
  EXPECT_EQ(s.count, count);
  EXPECT_EQ(s.requests, who);
  EXPECT_EQ(s.exact, exact);
}

TEST(BatchSpans, SplitGivesTheSlicesAndLeavesGapsOut) {
  const auto s = plan_spans(kUnits, kOneRowEach, kShape, fixed(cost(1, 1, 1)), SpanMode::Split);
  ASSERT_EQ(s.size(), 3u);
  expect_span(s[0], 0, 2, A | B, true);
  expect_span(s[1], 2, 1, A, true);
  expect_span(s[2], 5, 2, A | C, true);
}

TEST(BatchSpans, MaskGivesOneSpanFromTheFirstUnitInUseToTheLast) {
  const auto s = plan_spans(kUnits, kOneRowEach, kShape, fixed(cost(1, 1, 1)), SpanMode::Mask);
  ASSERT_EQ(s.size(), 1u);
  expect_span(s[0], 0, 7, A | B | C, false);
}

TEST(BatchSpans, MeasuredMergesWhenCallsCostMoreThanTheWastedWork) {
  // A call costs far more than reading or computing anything: one span.
  auto s = plan_spans(kUnits, kOneRowEach, kShape, fixed(cost(1, 1e-9, 1e-9)), SpanMode::Measured);
  ASSERT_EQ(s.size(), 1u);
  expect_span(s[0], 0, 7, A | B | C, false);
  // Free calls, costly arithmetic: every extra row is waste, so the slices.
  s = plan_spans(kUnits, kOneRowEach, kShape, fixed(cost(0, 0, 1)), SpanMode::Measured);
  ASSERT_EQ(s.size(), 3u);
  expect_span(s[1], 2, 1, A, true);
}

TEST(BatchSpans, MeasuredWeighsTheGapsBytesAgainstACall) {
  // Reading bounds; a span's four calls cost as much as reading 1.6 units. Units 0..2 merge (no
  // wasted bytes, and the extra row is free while reading bounds), but reading the two-unit gap
  // would cost more than the calls it saves.
  const auto s = plan_spans(kUnits, kOneRowEach, kShape, fixed(cost(400, 1, 1e-9)), SpanMode::Measured);
  ASSERT_EQ(s.size(), 2u);
  expect_span(s[0], 0, 3, A | B, false);
  expect_span(s[1], 5, 2, A | C, true);
}

TEST(BatchSpans, MeasuredMeasuresOnlyWhenThereIsAChoice) {
  int calls = 0;
  auto counting = [&] { return ++calls, cost(1, 1, 1); };
  const auto one = plan_spans({0, A | B, A | B, 0}, kOneRowEach, kShape, counting, SpanMode::Measured);
  ASSERT_EQ(one.size(), 1u);
  expect_span(one[0], 1, 2, A | B, true);
  EXPECT_TRUE(plan_spans({0, 0}, kOneRowEach, kShape, counting, SpanMode::Measured).empty());
  EXPECT_EQ(calls, 0);
  plan_spans(kUnits, kOneRowEach, kShape, counting, SpanMode::Measured);
  EXPECT_EQ(calls, 1);
}

TEST(BatchSpans, ModesByName) {
  for (SpanMode m : {SpanMode::Measured, SpanMode::Split, SpanMode::Mask})
    EXPECT_EQ(parse_span_mode(span_mode_name(m)), m);
  try {
    parse_span_mode("slice");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'slice'"), std::string::npos);
  }
}

TEST(BatchSpans, AProductsCostIsMeasuredOnceAndIsPositive) {
  std::vector<float> w(256 * 128);
  for (size_t i = 0; i < w.size(); ++i) w[i] = float(i % 7) / 7.f;
  const std::vector<WeightView> W = {WeightView::dense(DType::F32, w.data(), 256, 128),
                                     WeightView::dense(DType::F32, w.data(), 256, 128)};
  const ProductCost c = measured_product_cost(W, Precision::F32);
  EXPECT_GE(c.per_call_s, 0);
  EXPECT_GT(c.per_byte_s, 0);
  EXPECT_GT(c.per_mac_s, 0);
  EXPECT_TRUE(std::isfinite(c.seconds(1, 1e6, 1e6)));
  const ProductCost again = measured_product_cost(W, Precision::F32);
  EXPECT_EQ(again.per_call_s, c.per_call_s);
  EXPECT_EQ(again.per_mac_s, c.per_mac_s);
}

}  // namespace
}  // namespace adallava
