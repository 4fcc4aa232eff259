// Whole-file writes: the bytes land at the path (replacing what was there), no .tmp is left
// behind, and a path that cannot be written is named in the error.
#include "io/atomic_write.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "tensor/error.h"
#include "test_util.h"

namespace adallava {
namespace {

TEST(AtomicWrite, WritesReplacesAndNamesFailures) {
  test::TempDir d;
  const std::string path = d.file("a.json");
  write_file_atomically(path, std::string("first\0bytes", 11));
  EXPECT_EQ(test::read_file(path), std::string("first\0bytes", 11));
  write_file_atomically(path, "second");
  EXPECT_EQ(test::read_file(path), "second");
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  try {
    write_file_atomically(d.file("missing/b.json"), "x");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing/b.json"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace adallava
