#include "io/npy.h"

#include <gtest/gtest.h>

#include "tensor/error.h"
#include "test_util.h"

namespace adallava {
namespace {

TEST(Npy, WriteThenReadRoundTrips) {
  test::TempDir d;
  std::vector<float> v = {1.5f, -2, 3, 4, 5, 6};
  write_npy_f32(d.file("a.npy"), v.data(), {2, 3});
  NpyArray a = read_npy(d.file("a.npy"));
  EXPECT_EQ(a.descr, "<f4");
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(a.to_f32(), v);
}

TEST(Npy, ReadsFixtureIntegers) {
  auto ids = read_npy(test::fixture("llava_tiny_f32/input_ids.npy")).to_i64();
  ASSERT_FALSE(ids.empty());
  EXPECT_EQ(ids[0], 1);
  EXPECT_THROW(read_npy(test::fixture("llava_tiny_f32/config.json")), Error);
}

}  // namespace
}  // namespace adallava
