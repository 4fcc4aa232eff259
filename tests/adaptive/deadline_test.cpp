// The deadline planner against a latency model of given costs (no timing): the largest unit
// count whose predicted request fits, the grid budget that buys it, the narrowest plan when
// not every token fits, the infeasible deadline; the online correction; bad deadlines.
#include "adaptive/deadline.h"

#include <gtest/gtest.h>

#include "adaptive/budget.h"
#include "tensor/error.h"

namespace adallava {
namespace {

// AdaLLaVA-L with 8 layers, 4 always on: units 0..4, each a layer.
AdaConfig eight_layers() {
  AdaConfig a;
  a.num_prefix_layers = 4, a.num_gated_layers = 4;
  a.units_per_layer = 1, a.prefix_units = 4, a.total_units = 8;
  return a;
}

// Round numbers: a layer costs 1 ms per prompt row and 2 ms per decoded token, the head 1 ms,
// the image 10 ms; no attention or K/V terms.
LatencyModel simple_model() {
  Costs k;
  k.vision = 10, k.layer_prefill_row = 1, k.layer_decode = 2, k.head = 1;
  return LatencyModel(UnitShape{4, 1}, k);
}

TEST(LatencyModel, PhasesAddUpWhatThePlanRuns) {
  const LatencyModel m = simple_model();
  // 3 units: 7 layers. Prefill 5 rows: 5 × 7 + 1 (head). Decode 3 tokens: 2 steps of 7 × 2 + 1.
  const Phases p = m.predict({true, 5, 3, 3});
  EXPECT_DOUBLE_EQ(p.vision, 10);
  EXPECT_DOUBLE_EQ(p.prefill, 36);
  EXPECT_DOUBLE_EQ(p.decode, 30);
  EXPECT_DOUBLE_EQ(m.decode_token_ms(3, 100), 15);
  EXPECT_DOUBLE_EQ(m.predict({false, 5, 1, 0}).total(), 21);  // no image, no decode step
}

TEST(Deadline, PicksTheLargestUnitCountThatFits) {
  const LatencyModel m = simple_model();
  const AdaConfig a = eight_layers();
  // Image + 5 rows + 3 tokens at u units: 10 + (5(4 + u) + 1) + 2(2(4 + u) + 1) = 49 + 9u.
  for (int u = 0; u <= 4; ++u) {
    const DeadlinePlan p = plan_for_deadline(m, &a, 49 + 9 * u + 0.5, {true, 5, 3, 0});
    EXPECT_EQ(p.units, u);
    EXPECT_EQ(budget_units(p.budget, a), u);
    EXPECT_DOUBLE_EQ(p.predicted.total(), 49 + 9 * u);
  }
  EXPECT_EQ(plan_for_deadline(m, &a, 1000, {true, 5, 3, 0}).budget, 1.0);
}

TEST(Deadline, TheNarrowestPlanWhenNotEveryTokenFitsAndAnErrorWhenNoneDoes) {
  const LatencyModel m = simple_model();
  const AdaConfig a = eight_layers();
  // u = 0 with 3 tokens needs 49 ms; with one token 10 + 21 = 31 ms.
  const DeadlinePlan p = plan_for_deadline(m, &a, 35, {true, 5, 3, 0});
  EXPECT_EQ(p.units, 0);
  try {
    plan_for_deadline(m, &a, 30, {true, 5, 3, 0});
    FAIL() << "31 ms cannot fit in 30";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "deadline 30 ms cannot be met: the narrowest plan needs about 31 ms for one token");
  }
}

TEST(Deadline, PlainLlavaHasOnePlan) {
  const LatencyModel m(UnitShape{8, 0}, Costs{0, 1, 2, 1, 0, 0});
  const DeadlinePlan p = plan_for_deadline(m, nullptr, 100, {false, 5, 3, 0});
  EXPECT_EQ(p.units, 0);
  EXPECT_EQ(p.budget, 1.0);
  EXPECT_DOUBLE_EQ(p.predicted.total(), 41 + 2 * 17);
}

TEST(LatencyModel, OnlineCorrectionIsTheMedianOfTheLastThreeRatios) {
  LatencyModel m = simple_model();
  const RequestShape r{true, 5, 3, 0};
  auto measured = [&](double scale) {
    const Phases p = m.predict(r), raw = simple_model().predict(r);
    m.observe(p, {raw.vision * scale, raw.prefill * scale, raw.decode * scale});
  };
  measured(10);  // one outlier does not move it (the calibration votes 1 twice)
  EXPECT_DOUBLE_EQ(m.correction().prefill, 1);
  measured(3);  // a lasting change does, after two requests
  EXPECT_DOUBLE_EQ(m.correction().prefill, 3);
  measured(3);
  EXPECT_DOUBLE_EQ(m.correction().decode, 3);
  EXPECT_DOUBLE_EQ(m.predict(r).total(), 3 * simple_model().predict(r).total());
  m.relax();  // refused requests bring the calibration back, two votes at a time
  EXPECT_DOUBLE_EQ(m.correction().vision, 3);
  m.relax();
  EXPECT_DOUBLE_EQ(m.correction().vision, 1);
}

TEST(LatencyModel, TheMarginIsTheUpperQuartileOfRecentRequestsScatter) {
  LatencyModel m = simple_model();
  const RequestShape r{true, 5, 3, 4};
  // Each request measured at `scale` times what was predicted for it.
  auto request = [&](double scale) {
    const Phases p = m.predict(r);
    m.observe(p, {p.vision * scale, p.prefill * scale, p.decode * scale});
  };
  for (double s : {1.5, 1.5, 1.5}) request(s);
  EXPECT_EQ(m.margin(), 1);  // fewer than four requests seen
  request(1.0);
  EXPECT_DOUBLE_EQ(m.margin(), 1.5);  // of {1, 1.5, 1.5, 1.5}
  for (double s : {0.9, 1.0, 1.0, 1.0, 1.0, 1.0, 1.2, 1.0}) request(s);  // the last eight only
  EXPECT_DOUBLE_EQ(m.margin(), 1.0);
  for (double s : {0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5}) request(s);
  EXPECT_EQ(m.margin(), 1);  // never below 1
  for (double s : {9, 9, 9, 9, 9, 9, 9, 9}) request(s);
  EXPECT_EQ(m.margin(), 2);  // nor above 2
  for (int i = 0; i < 7; ++i) m.idle();
  EXPECT_EQ(m.margin(), 2);
  m.idle();  // eight requests under other models: it trusts its calibration's spread again
  EXPECT_EQ(m.margin(), 1);
  // The planner keeps the margin's slack. Uncorrected, u units cost 49 + 9u ms (4 units: 85).
  const AdaConfig a = eight_layers();
  LatencyModel planner = simple_model();
  EXPECT_EQ(plan_for_deadline(planner, &a, 86, {true, 5, 3, 0}).units, 4);
  for (double s : {1.0, 1.0, 1.2, 1.2}) {  // correction 1.2 (median of 1, 1.2, 1.2), margin 1.2
    const Phases p = planner.predict({true, 5, 3, 4});
    planner.observe(p, {p.vision * s, p.prefill * s, p.decode * s});
  }
  EXPECT_DOUBLE_EQ(planner.margin(), 1.2);
  // 1.2 × 1.2 × (49 + 9u) <= 86: u = 1.
  EXPECT_EQ(plan_for_deadline(planner, &a, 86, {true, 5, 3, 0}).units, 1);
}

TEST(Deadline, BadDeadlinesAreNamed) {
  EXPECT_DOUBLE_EQ(parse_deadline_ms("250"), 250);
  EXPECT_DOUBLE_EQ(parse_deadline_ms("0.5"), 0.5);
  for (const char* bad : {"0", "-3", "abc", "", "12ms", "inf", "nan"}) {
    try {
      parse_deadline_ms(bad, "--deadline-ms");
      FAIL() << bad;
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()).rfind("--deadline-ms", 0), 0u) << e.what();
    }
  }
}

}  // namespace
}  // namespace adallava
