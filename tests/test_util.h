// Helpers shared by the tests: fixture paths, .npy comparison, temporary folders.
#pragma once
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "io/npy.h"

namespace adallava::test {

// tests/fixtures, or $ADALLAVA_FIXTURES.
std::string fixtures_dir();
std::string fixture(const std::string& name);
// Fixture folders whose config.json has this model_type (any size or config).
std::vector<std::string> fixtures_of_type(const std::string& model_type);

std::vector<float> npy_f32(const std::string& path);
std::vector<int64_t> npy_i64(const std::string& path);

// Largest |a - b|; fails the test when sizes differ.
double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b);
::testing::AssertionResult all_close(const std::vector<float>& got, const std::vector<float>& want, double atol,
                                     const std::string& what);

// A fresh empty folder under the system temp dir, removed by the destructor.
struct TempDir {
  TempDir();
  ~TempDir();
  std::string path;
  std::string file(const std::string& name) const { return path + "/" + name; }
};

void write_file(const std::string& path, const std::string& bytes);
std::string read_file(const std::string& path);

}  // namespace adallava::test
