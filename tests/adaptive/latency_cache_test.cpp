// The calibration cache: costs written under a key come back only for that key; a torn or
// foreign file is ignored; an engine with a cache folder measures once, and a second engine on
// the same model and CPU reads the same costs back instead of measuring.
#include "adaptive/latency_cache.h"

#include <gtest/gtest.h>

#include "engine/engine.h"
#include "test_util.h"

namespace adallava {
namespace {

Costs some_costs(double scale) {
  Costs k;
  k.vision = 10 * scale, k.layer_prefill_row = 0.5 * scale, k.layer_decode = 2 * scale;
  k.head = 1 * scale, k.attention_pair = 1e-5 * scale, k.kv_row = 1e-4 * scale;
  return k;
}

void expect_same(const Costs& a, const Costs& b) {
  EXPECT_EQ(a.vision, b.vision);
  EXPECT_EQ(a.layer_prefill_row, b.layer_prefill_row);
  EXPECT_EQ(a.layer_decode, b.layer_decode);
  EXPECT_EQ(a.head, b.head);
  EXPECT_EQ(a.attention_pair, b.attention_pair);
  EXPECT_EQ(a.kv_row, b.kv_row);
}

TEST(LatencyCache, CostsComeBackOnlyForTheirKey) {
  test::TempDir t;
  const nlohmann::json key = {{"model", "m"}, {"max_threads", 2}};
  const std::string file = calibration_file(t.path, key);
  EXPECT_FALSE(read_calibration(file, key));  // nothing there yet
  write_calibration(file, key, {some_costs(1), some_costs(0.5)});
  const auto back = read_calibration(file, key);
  ASSERT_TRUE(back);
  ASSERT_EQ(back->size(), 2u);
  expect_same((*back)[0], some_costs(1));
  expect_same((*back)[1], some_costs(0.5));
  nlohmann::json other = key;
  other["model"] = "n";
  EXPECT_NE(calibration_file(t.path, other), file);
  EXPECT_FALSE(read_calibration(file, other));  // the file holds another key
  write_calibration(file, key, {some_costs(1)});
  EXPECT_FALSE(read_calibration(file, key));  // one thread count short
  test::write_file(file, "{\"key\": ");
  EXPECT_FALSE(read_calibration(file, key));  // torn
  write_calibration(file, key, {some_costs(1), some_costs(-1)});
  EXPECT_FALSE(read_calibration(file, key));  // a negative cost
}

TEST(LatencyCache, ASecondEngineReadsTheFirstOnesCalibration) {
  test::TempDir t;
  EngineOptions o;
  o.calibration_cache = t.file("cache");
  const std::string dir = test::fixture("adallava_tiny_L");
  const auto first = Engine::load(dir, o);
  EXPECT_FALSE(first->calibration_cached());
  ASSERT_FALSE(first->calibration_file().empty());
  const auto second = Engine::load(dir, o);
  EXPECT_TRUE(second->calibration_cached());
  EXPECT_EQ(second->calibration_file(), first->calibration_file());
  expect_same(second->latency_model(1).costs(), first->latency_model(1).costs());
  expect_same(second->latency_model().costs(), first->latency_model().costs());
  o.calibration_cache = "";  // no cache: measured, no file
  const auto third = Engine::load(dir, o);
  EXPECT_FALSE(third->calibration_cached());
  EXPECT_TRUE(third->calibration_file().empty());
}

}  // namespace
}  // namespace adallava
