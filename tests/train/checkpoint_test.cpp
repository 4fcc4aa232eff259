// A saved checkpoint loads with `LlavaModel::load` and gives the same outputs, and a training
// update shows up in what is loaded.
#include "train/checkpoint.h"

#include <gtest/gtest.h>

#include "generate/session.h"
#include "test_util.h"

namespace adallava::train {
namespace {

TEST(Checkpoint, SavedParamsLoadAndGiveTheSameLogits) {
  const std::string dir = test::fixture("adallava_tiny_H");
  auto m = LlavaModel::load(dir);
  Params p = Params::from_model(*m);
  test::TempDir out;
  save_checkpoint(out.path, *m, p);
  auto back = LlavaModel::load(out.path);
  const auto ids = test::npy_i64(dir + "/input_ids.npy");
  const auto pixels = test::npy_f32(dir + "/pixel_values.npy");
  PlanRequest req;
  req.budget = 0.75;
  int64_t rows = 0, rows2 = 0;
  const auto want = all_logits(*m, ids, pixels.data(), Precision::F32, req, &rows);
  EXPECT_EQ(all_logits(*back, ids, pixels.data(), Precision::F32, req, &rows2), want);

  p.at("lm_head.weight")[0] += 1.f;  // an update must reach the saved file
  save_checkpoint(out.path, *m, p);
  auto changed = LlavaModel::load(out.path);
  EXPECT_NE(all_logits(*changed, ids, pixels.data(), Precision::F32, req, &rows2), want);
}

}  // namespace
}  // namespace adallava::train
