// `convert --out F.gguf`: a model written as llama.cpp's GGUF pair loads back and computes what
// the original does. In f32 the only differences are the q/k row permutation (undone by rope on
// adjacent pairs) and the mmproj conventions (swapped CLIP MLP names, dropped last layer), so
// the fixtures' logits tolerance holds; AdaLLaVA's scheduler comes along and plans alike.
#include "llava/gguf_export.h"

#include <gtest/gtest.h>

#include "engine/engine.h"
#include "io/gguf.h"
#include "test_util.h"
#include "vision/image.h"

namespace adallava {
namespace {

constexpr double kLogitsAtol = 1e-4;

std::unique_ptr<Engine> gguf_engine(const test::TempDir& tmp) {
  EngineOptions o;
  o.precision = Precision::F32;
  o.calibration_cache = "";
  o.mmproj = tmp.file("m.mmproj.gguf");
  return Engine::load(tmp.file("m.gguf"), o);
}

void export_f32(const std::string& dir, Tokenizer tok, const test::TempDir& tmp) {
  const auto model = LlavaModel::load(dir);
  GgufExport o;
  o.dtype = DType::F32;
  o.text_path = tmp.file("m.gguf");
  o.mmproj_path = tmp.file("m.mmproj.gguf");
  export_gguf(*model, tok, o);
}

TEST(GgufExport, LlavaInF32GivesTheReferenceLogits) {
  const std::string dir = test::fixture("llava_tiny_f32");
  test::TempDir tmp;
  Tokenizer tok = Tokenizer::from_model_file(test::fixture("tokenizer_tiny") + "/tokenizer.model", true);
  tok.add_special_token("<image>", 300);  // the fixture's image token, as llava-hf's tokenizer adds it
  export_f32(dir, std::move(tok), tmp);
  const GgufFile mmproj(tmp.file("m.mmproj.gguf"));
  EXPECT_EQ(mmproj.get_int("clip.vision.block_count"), 2);  // feature layer -2 of 3: the last block dropped
  const auto e = gguf_engine(tmp);
  Request r;
  r.ids = test::npy_i64(dir + "/input_ids.npy");
  r.image = load_image(dir + "/image.png");
  int64_t rows = 0;
  EXPECT_TRUE(test::all_close(e->logits(r, &rows), test::npy_f32(dir + "/logits.npy"), kLogitsAtol, "logits"));
  r.max_new_tokens = 8;
  EXPECT_EQ(e->generate(r).ids, test::npy_i64(dir + "/generated_ids.npy"));
}

TEST(GgufExport, AdaLlavaPlansAndLogitsSurviveTheRoundTrip) {
  for (const std::string name : {"adallava_tiny_L", "adallava_tiny_H"}) {
    const std::string dir = test::fixture(name);
    test::TempDir tmp;
    export_f32(dir, Tokenizer::from_model_file(test::fixture("tokenizer_tiny") + "/tokenizer.model", true), tmp);
    const auto gguf = gguf_engine(tmp);
    EngineOptions o;
    o.precision = Precision::F32;
    o.calibration_cache = "";
    const auto original = Engine::load(dir, o);
    ASSERT_NE(gguf->model().adaptive(), nullptr) << name;
    for (double budget : {1.0, 0.6, 0.3}) {
      Request r;
      r.ids = test::npy_i64(dir + "/input_ids.npy");
      r.image = load_image(dir + "/image.png");
      r.plan.budget = budget;
      int64_t rows_a = 0, rows_b = 0;
      PlanReport plan_a, plan_b;
      const std::vector<float> a = original->logits(r, &rows_a, &plan_a), b = gguf->logits(r, &rows_b, &plan_b);
      EXPECT_TRUE(plan_a.plan == plan_b.plan) << name << " budget " << budget;
      EXPECT_TRUE(test::all_close(b, a, kLogitsAtol, name + " logits at budget " + std::to_string(budget)));
    }
  }
}

}  // namespace
}  // namespace adallava
