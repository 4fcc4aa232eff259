// AdaLLaVA config fields: defaults, unit grids, and inconsistent configs rejected by name.
#include "adaptive/ada_config.h"

#include <gtest/gtest.h>

#include "tensor/error.h"

namespace adallava {
namespace {

ModelConfig config(nlohmann::json raw, int layers = 8, int heads = 8, int kv_heads = 8) {
  ModelConfig c;
  c.path = "test/config.json";
  c.model_type = "ada_llava_llama";
  c.text.num_layers = layers, c.text.num_heads = heads, c.text.num_kv_heads = kv_heads;
  c.raw = std::move(raw);
  return c;
}

void expect_error(const ModelConfig& c, const std::string& part) {
  try {
    parse_ada_config(c);
    ADD_FAILURE() << "no error, expected: " << part;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("test/config.json"), std::string::npos) << e.what();
  }
}

TEST(AdaConfig, UnitGridsOfBothVariants) {
  AdaConfig a = parse_ada_config(config({{"num_prefix_layers", 4}, {"scheduler_type", "L"}}));
  EXPECT_EQ(a.prefix_units, 4);
  EXPECT_EQ(a.total_units, 8);
  EXPECT_EQ(a.head_outputs(8), 4);
  a = parse_ada_config(
      config({{"num_prefix_layers", 16}, {"scheduler_type", "H"}, {"scheduler_rank", 8}, {"torch_dtype", "float16"}},
             32, 32, 32));
  EXPECT_EQ(a.prefix_units, 64);
  EXPECT_EQ(a.total_units, 128);
  EXPECT_EQ(a.head_outputs(32), 1024);
  EXPECT_EQ(a.budget_dtype, DType::F16);
  a = parse_ada_config(config(nlohmann::json::object(), 32, 32, 32));  // authors' defaults
  EXPECT_EQ(a.num_prefix_layers, 16);
  EXPECT_EQ(a.type, SchedulerType::L);
}

TEST(AdaConfig, RejectsInconsistentConfigs) {
  expect_error(config({{"num_prefix_layers", 9}}), "num_prefix_layers");
  expect_error(config({{"num_prefix_layers", 8}}), "num_prefix_layers");
  expect_error(config({{"num_prefix_layers", -1}}), "num_prefix_layers");
  expect_error(config({{"num_prefix_layers", "four"}}), "num_prefix_layers");
  expect_error(config({{"scheduler_type", "X"}}), "scheduler_type");
  expect_error(config({{"scheduler_type", "H"}, {"scheduler_rank", 3}}), "scheduler_rank");
  expect_error(config({{"scheduler_type", "H"}, {"scheduler_rank", 0}}), "scheduler_rank");
  expect_error(config({{"scheduler_type", "H"}, {"scheduler_rank", 2}}, 8, 8, 2), "KV head");
}

}  // namespace
}  // namespace adallava
