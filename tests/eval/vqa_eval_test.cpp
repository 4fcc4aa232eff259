#include "eval/vqa_eval.h"

#include <gtest/gtest.h>

#include "eval/report.h"

namespace adallava::eval {
namespace {

TEST(VqaEval, AnswersAreNormalisedBeforeMatching) {
  EXPECT_EQ(normalise_answer("  Yes. "), "yes");
  EXPECT_EQ(normalise_answer("Two"), "two");
  EXPECT_EQ(normalise_answer("red circle"), "red circle");
  EXPECT_EQ(normalise_answer(""), "");
  EXPECT_EQ(normalise_answer("..."), "");
}

TEST(VqaEval, ReportsListEveryResultAndKind) {
  EvalResult a;
  a.plan = "scheduler", a.budget = 0.75, a.executed_fraction = 0.75, a.distinct_plans = 3;
  a.all = {3, 4};
  a.top_plans = {{"0,1,2,3,5,7", 3}, {"0,1,2,3,6,7", 1}};
  a.per_kind = {{"count", {1, 2}}, {"exist", {2, 2}}};
  a.image_rows = 64, a.prefill_gflops = 0.125;
  EvalResult b = a;
  b.plan = "random", b.all = {1, 4};
  const std::vector<EvalResult> rs = {a, b};
  const auto j = results_json(rs);
  ASSERT_EQ(j["results"].size(), 2u);
  EXPECT_DOUBLE_EQ(j["results"][0]["accuracy"].get<double>(), 0.75);
  EXPECT_DOUBLE_EQ(j["results"][0]["per_kind"]["count"]["accuracy"].get<double>(), 0.5);
  EXPECT_EQ(j["results"][0]["top_plans"][0]["plan"], "0,1,2,3,5,7");
  EXPECT_EQ(j["results"][0]["top_plans"][1]["records"], 1);
  const std::string md = markdown_report(rs, "t");
  EXPECT_DOUBLE_EQ(j["results"][0]["prefill_gflops"].get<double>(), 0.125);
  EXPECT_EQ(j["results"][0]["token_selection"], "none");
  EXPECT_NE(md.find("| scheduler | none | 0.75 | 0.750 | 64.0 | 0.125 | 75.0 | 3 | 50.0 | 100.0 |"), std::string::npos)
      << md;
  EXPECT_NE(md.find("| random |"), std::string::npos);
  // The scheduler's plans are listed, one more than the two kept counted; random plans are not.
  EXPECT_NE(md.find("- scheduler at 0.75: 0,1,2,3,5,7 (3); 0,1,2,3,6,7 (1); 1 more"), std::string::npos) << md;
  EXPECT_EQ(md.find("- random"), std::string::npos) << md;
  const PlotSpec p = accuracy_plot(rs, "t");
  ASSERT_EQ(p.series.size(), 2u);
  EXPECT_EQ(p.series[1].name, "random");
  EXPECT_DOUBLE_EQ(p.series[1].y[0], 25.0);
  EXPECT_DOUBLE_EQ(p.series[0].x[0], 0.75);  // one selection: against the executed fraction

  // Several token selections: one series per plan and selection, against the prefill's FLOPs.
  EvalResult c = a;
  c.token_selection = "fastv:2,0.5", c.prefill_gflops = 0.0625;
  const PlotSpec q = accuracy_plot({a, c}, "t");
  ASSERT_EQ(q.series.size(), 2u);
  EXPECT_EQ(q.series[1].name, "scheduler, fastv:2,0.5");
  EXPECT_DOUBLE_EQ(q.series[1].x[0], 0.0625);
  EXPECT_EQ(q.x_label, "decoder prefill GFLOPs");
}

}  // namespace
}  // namespace adallava::eval
