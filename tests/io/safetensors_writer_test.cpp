// Written files read back through TensorStore (and so through the same validation as any
// checkpoint), bit for bit, in every dtype; a failed write leaves nothing half written.
#include "io/safetensors_writer.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "io/safetensors.h"
#include "tensor/error.h"
#include "test_util.h"

namespace adallava {
namespace {

TEST(SafetensorsWriter, RoundTripsThroughTheReader) {
  test::TempDir d;
  const std::vector<float> a = {1.5f, -2.f, 3.25f, 0.f, 7.f, -1e-3f};
  const std::vector<uint16_t> b = {f32_to_bf16(0.5f), f32_to_bf16(-3.f), f32_to_bf16(9.f)};
  const std::vector<uint16_t> h = {f32_to_f16(1.f)};
  write_safetensors(d.file("model.safetensors"), {{"layer.weight", DType::F32, {2, 3}, a.data()},
                                                  {"layer.bias", DType::BF16, {3}, b.data()},
                                                  {"scalar_like", DType::F16, {1}, h.data()}});
  EXPECT_FALSE(std::filesystem::exists(d.file("model.safetensors.tmp")));
  TensorStore s = TensorStore::open_dir(d.path);
  const TensorRecord& w = s.get("layer.weight", {2, 3});
  EXPECT_EQ(w.dtype, DType::F32);
  EXPECT_EQ(std::vector<float>(static_cast<const float*>(w.data), static_cast<const float*>(w.data) + 6), a);
  const TensorRecord& bias = s.get("layer.bias", {3});
  EXPECT_EQ(bias.dtype, DType::BF16);
  EXPECT_EQ(std::vector<uint16_t>(static_cast<const uint16_t*>(bias.data), static_cast<const uint16_t*>(bias.data) + 3),
            b);
  EXPECT_EQ(s.get("scalar_like", {1}).dtype, DType::F16);
}

TEST(SafetensorsWriter, UnwritablePathIsAnErrorNamingIt) {
  const std::vector<float> a = {1.f};
  try {
    write_safetensors("/nonexistent-dir/model.safetensors", {{"x", DType::F32, {1}, a.data()}});
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent-dir/model.safetensors"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace adallava
