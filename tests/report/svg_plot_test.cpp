#include "report/svg_plot.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace adallava {
namespace {

int count(const std::string& s, const std::string& needle) {
  int n = 0;
  for (size_t p = s.find(needle); p != std::string::npos; p = s.find(needle, p + 1)) ++n;
  return n;
}

TEST(SvgPlot, DrawsEverySeriesWithLegendAndEscapedText) {
  PlotSpec spec{"Accuracy <vs> cost", "executed fraction", "accuracy & more", {}};
  spec.series.push_back({"scheduler", {0.5, 0.75, 1.0}, {0.6, 0.8, 0.95}, true, false});
  spec.series.push_back({"early-exit", {0.5, 0.75, 1.0}, {0.3, 0.5, 0.95}, true, false});
  const std::string svg = render_svg(spec);
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_EQ(count(svg, "<polyline"), 2);
  EXPECT_EQ(count(svg, "<circle"), 6);
  EXPECT_NE(svg.find("Accuracy &lt;vs&gt; cost"), std::string::npos);
  EXPECT_NE(svg.find("accuracy &amp; more"), std::string::npos);
  EXPECT_NE(svg.find(">scheduler<"), std::string::npos);
  EXPECT_NE(svg.find(">early-exit<"), std::string::npos);
}

TEST(SvgPlot, DegenerateDataStillGivesAValidChart) {
  PlotSpec spec{"t", "x", "y", {{"one point", {3}, {7}, true, false}, {"empty", {}, {}, false, false}}};
  const std::string svg = render_svg(spec);
  EXPECT_EQ(count(svg, "<circle"), 1);
  EXPECT_EQ(svg.find("nan"), std::string::npos);
  EXPECT_EQ(svg.find("inf"), std::string::npos);
  PlotSpec none{"t", "x", "y", {}};
  EXPECT_NE(render_svg(none).find("</svg>"), std::string::npos);
}

}  // namespace
}  // namespace adallava
