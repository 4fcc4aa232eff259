// adallava init: a random LLaVA of the asked shape; --grid-positions writes the vision position
// embedding as 2-D sine-cosine features of each patch's row and column.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "cli/cli_test_util.h"
#include "io/safetensors.h"
#include "llava/llava.h"
#include "test_util.h"

namespace adallava {
namespace {

// A tiny data set's tokenizer, then init with the given extra flags; returns the position table.
std::vector<float> position_table(test::TempDir& t, const std::string& flags) {
  Result r = run_cli("synth --out " + t.file("data") + " --n 4 --val 0 --test 0 --seed 3 --image-size 48 --vocab 320");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = run_cli("init --out " + t.file("m") + " --tokenizer " + t.file("data/tokenizer.model") +
              " --hidden 32 --intermediate 48 --layers 2 --heads 4 --vision-hidden 16 --vision-intermediate 32"
              " --vision-layers 1 --vision-heads 2 --image-size 48 --patch 12 --seed 1" + flags);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const TensorStore store = TensorStore::open_dir(t.file("m"));
  const TensorRecord& rec =
      store.get(std::string(kEmbeddedVisionPrefix) + "embeddings.position_embedding.weight", {17, 16});
  EXPECT_EQ(rec.dtype, DType::F32);
  const float* p = static_cast<const float*>(rec.data);
  return std::vector<float>(p, p + rec.numel());
}

TEST(CmdInit, DefaultPositionEmbeddingIsSmallNoise) {
  test::TempDir t;
  const std::vector<float> table = position_table(t, "");
  double sq = 0;
  for (float x : table) sq += double(x) * x;
  EXPECT_NEAR(std::sqrt(sq / double(table.size())), 0.02, 0.006);
}

TEST(CmdInit, GridPositionsEncodeRowAndColumn) {
  test::TempDir t;
  const std::vector<float> table = position_table(t, " --grid-positions 2");
  const int grid = 4, C = 16, quarter = C / 4;
  for (int p = 0; p < grid * grid; ++p) {
    const double row = p / grid - 1.5, col = p % grid - 1.5;
    const float* e = table.data() + (p + 1) * C;
    for (int k = 0; k < quarter; ++k) {
      const double omega = std::pow(100.0, -double(k) / quarter);
      EXPECT_NEAR(e[k], 2 * std::sin(omega * row), 1e-5) << p << " " << k;
      EXPECT_NEAR(e[quarter + k], 2 * std::cos(omega * row), 1e-5) << p << " " << k;
      EXPECT_NEAR(e[C / 2 + k], 2 * std::sin(omega * col), 1e-5) << p << " " << k;
      EXPECT_NEAR(e[C / 2 + quarter + k], 2 * std::cos(omega * col), 1e-5) << p << " " << k;
    }
  }
  // The class token's row keeps its random draw.
  EXPECT_LT(std::fabs(table[0]), 0.2f);
  expect_clean_error(run_cli("init --out " + t.file("bad") + " --tokenizer " + t.file("data/tokenizer.model") +
                             " --grid-positions -1"),
                     "--grid-positions");
  // A shape the library rejects names the flag: its OptionError says "heads", the CLI "--heads".
  expect_clean_error(run_cli("init --out " + t.file("bad") + " --tokenizer " + t.file("data/tokenizer.model") +
                             " --hidden 32 --heads 3"),
                     "--heads: 3 does not divide the hidden size 32");
}

}  // namespace
}  // namespace adallava
