// Budget parsing and quantization rules beyond the fixture grids.
#include "adaptive/budget.h"

#include <gtest/gtest.h>

#include "tensor/error.h"

namespace adallava {
namespace {

TEST(Budget, ParsesFractionsAndRejectsEverythingElse) {
  EXPECT_EQ(parse_budget("0.75"), 0.75);
  EXPECT_EQ(parse_budget("1"), 1.0);
  EXPECT_EQ(parse_budget("0"), 0.0);
  for (const char* bad : {"", "abc", "0.5x", "1.01", "-0.1", "nan", "inf", "1e9", " "}) {
    EXPECT_THROW(parse_budget(bad), Error) << bad;
  }
  try {
    parse_budget("2");
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("budget 2 is outside [0, 1]"), std::string::npos) << e.what();
  }
}

TEST(Budget, UnitsFloorAndClampToThePrefix) {
  AdaConfig a;  // L-7B: P 16, T 32
  EXPECT_EQ(budget_units(1.0, a), 16);
  EXPECT_EQ(budget_units(0.85, a), 11);
  EXPECT_EQ(budget_units(0.75, a), 8);
  EXPECT_EQ(budget_units(0.6, a), 3);
  EXPECT_EQ(budget_units(0.5, a), 0);
  EXPECT_EQ(budget_units(0.3, a), 0);
  EXPECT_EQ(budget_units(0.0, a), 0);
  EXPECT_THROW(budget_units(1.5, a), Error);
  EXPECT_EQ(encoder_input(0, a), 0.f);
  EXPECT_EQ(encoder_input(17 - 1, a), 16.f / 17.f);
}

}  // namespace
}  // namespace adallava
