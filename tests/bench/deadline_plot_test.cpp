// The deadline benchmark's charts: one series per policy, the deadline, the load steps from
// the harness's log lined up by wall-clock time, and the budgets; a bad log line is named.
#include "bench/deadline_plot.h"

#include <gtest/gtest.h>

#include "tensor/error.h"
#include "test_util.h"

namespace adallava {
namespace {

TEST(DeadlinePlot, LatencyWithTheDeadlineAndTheLoadAndTheBudgets) {
  test::TempDir t;
  const nlohmann::json run = {
      {"deadline_ms", 11.0},
      {"results",
       {{{"policy", "adaptive"}, {"trace", {{0, 5.0, 1.0, 1000.0}, {6, 12.5, 0.75, 1000.5}}}},
        {{"policy", "fixed:1"}, {"trace", {{0, 6.0, 1.0, 1001.0}, {7, 30.0, 1.0, 1001.5}}}}}}};
  test::write_file(t.file("load.txt"), "999.9 quiet\n1000.7 cpu2:100\n1001.2 quiet\n");
  plot_deadline_run(run, t.file("load.txt"), t.file("run.svg"));
  const std::string latency = test::read_file(t.file("run.svg")), budget = test::read_file(t.file("run-budget.svg"));
  for (const char* needle : {"adaptive", "fixed:1", "deadline", "load on", "deadline 11 ms"})
    EXPECT_NE(latency.find(needle), std::string::npos) << needle;
  EXPECT_NE(budget.find("adaptive"), std::string::npos);
  test::write_file(t.file("bad.txt"), "soon cpu1:50\n");
  try {
    plot_deadline_run(run, t.file("bad.txt"), t.file("run2.svg"));
    FAIL() << "a bad log line";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.txt: line 'soon cpu1:50'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace adallava
