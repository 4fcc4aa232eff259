// Sparse config.json files resolve to the values transformers fills in (config_full.json).
#include "io/hf_config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tensor/error.h"
#include "test_util.h"

namespace adallava {
namespace {

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

void expect_text_matches(const TextConfig& t, const nlohmann::json& full) {
  EXPECT_EQ(t.hidden_size, full["hidden_size"].get<int>());
  EXPECT_EQ(t.intermediate_size, full["intermediate_size"].get<int>());
  EXPECT_EQ(t.num_layers, full["num_hidden_layers"].get<int>());
  EXPECT_EQ(t.num_heads, full["num_attention_heads"].get<int>());
  EXPECT_EQ(t.num_kv_heads, full["num_key_value_heads"].get<int>());
  EXPECT_EQ(t.vocab_size, full["vocab_size"].get<int>());
  EXPECT_FLOAT_EQ(t.rms_norm_eps, full["rms_norm_eps"].get<float>());
  EXPECT_FLOAT_EQ(t.rope_theta, full["rope_theta"].get<float>());
  EXPECT_EQ(t.max_position_embeddings, full["max_position_embeddings"].get<int>());
  EXPECT_EQ(t.hidden_act, full["hidden_act"].get<std::string>());
}

TEST(HfConfig, SparseConfigsResolveLikeTransformers) {
  for (const char* type_name : {"llava", "llama"})
    for (const std::string& dir : test::fixtures_of_type(type_name)) {
      const std::string type = type_name;
      SCOPED_TRACE(dir);
      ModelConfig c = load_model_config(dir);
      auto full = read_json(dir + "/config_full.json");
      if (type == "llama") {
        expect_text_matches(c.text, full);
        continue;
      }
      expect_text_matches(c.text, full["text_config"]);
      const auto& v = full["vision_config"];
      EXPECT_EQ(c.vision.hidden_size, v["hidden_size"].get<int>());
      EXPECT_EQ(c.vision.num_layers, v["num_hidden_layers"].get<int>());
      EXPECT_EQ(c.vision.image_size, v["image_size"].get<int>());
      EXPECT_EQ(c.vision.patch_size, v["patch_size"].get<int>());
      EXPECT_FLOAT_EQ(c.vision.layer_norm_eps, v["layer_norm_eps"].get<float>());
      EXPECT_EQ(c.vision.hidden_act, v["hidden_act"].get<std::string>());
      EXPECT_EQ(c.image_token_id, full["image_token_index"].get<int64_t>());
      EXPECT_EQ(c.vision_feature_layer, full["vision_feature_layer"].get<int>());
    }
}

TEST(HfConfig, LlamaDefaultsApplyToAbsentFields) {
  test::TempDir d;
  test::write_file(d.file("config.json"), R"({"model_type":"llama","hidden_size":64,"num_attention_heads":4})");
  ModelConfig c = load_model_config(d.path);
  EXPECT_FLOAT_EQ(c.text.rms_norm_eps, 1e-6f);  // LlamaConfig default, not LLaVA's 1e-5
  EXPECT_EQ(c.text.num_kv_heads, 4);
  EXPECT_EQ(c.text.max_position_embeddings, 2048);
  EXPECT_EQ(c.text.head_dim, 16);
}

TEST(HfConfig, BadFieldsAreNamed) {
  test::TempDir d;
  auto expect_bad = [&](const std::string& json, const std::string& needle) {
    test::write_file(d.file("config.json"), json);
    try {
      load_model_config(d.path);
      ADD_FAILURE() << json;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_bad(R"({"model_type":"gpt2"})", "unknown model_type 'gpt2'");
  expect_bad(R"({"model_type":"llama","hidden_size":"big"})", "hidden_size");
  expect_bad(R"({"model_type":"llama","hidden_size":64,"num_attention_heads":5})", "num_attention_heads");
  expect_bad(R"({"model_type":"llama","hidden_size":64,"num_attention_heads":4,"num_key_value_heads":3})", "num_key_value_heads");
  expect_bad(R"({"model_type":"llava","vision_config":{"image_size":50,"patch_size":14}})", "patch_size");
  expect_bad("not json", "not a valid JSON");
  EXPECT_THROW(load_model_config(d.file("nope")), Error);
}

TEST(HfConfig, OriginalLayoutReadsMmFields) {
  const std::string dir = test::fixture("adallava_tiny_L");
  ModelConfig c = load_model_config(dir);
  EXPECT_EQ(c.layout, Layout::OriginalLlava);
  EXPECT_EQ(c.image_token_id, -200);
  EXPECT_TRUE(c.pad_to_square);
  EXPECT_EQ(c.vision_tower, "clip_vision_tower");
  VisionConfig v = load_vision_config(dir + "/clip_vision_tower");
  EXPECT_EQ(v.num_layers, 3);
}

}  // namespace
}  // namespace adallava
