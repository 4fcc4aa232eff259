// Helpers shared by the tests: fixture paths, .npy comparison, temporary folders.
#pragma once
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "io/npy.h"
#include "kernels/kernel_set.h"

namespace adallava::test {

// tests/fixtures, or $ADALLAVA_FIXTURES.
std::string fixtures_dir();
// The repository's root (fuzz regression inputs live under it).
inline std::string source_dir() { return ADALLAVA_SOURCE_DIR; }
std::string fixture(const std::string& name);
// Fixture folders whose config.json has this model_type (any size or config): those without
// token selection, or (token_selection) those whose checkpoint selects image tokens, which
// record the selection and generation but not the training and per-layer files.
std::vector<std::string> fixtures_of_type(const std::string& model_type, bool token_selection = false);

// DIR/manifest.json: what the reference run recorded besides arrays.
nlohmann::json manifest(const std::string& dir);

std::vector<float> npy_f32(const std::string& path);
std::vector<int64_t> npy_i64(const std::string& path);

// Largest |a - b|; fails the test when sizes differ.
double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b);
::testing::AssertionResult all_close(const std::vector<float>& got, const std::vector<float>& want, double atol,
                                     const std::string& what);

// Forces a kernel set for its lifetime, then restores what was forced before (or the automatic
// choice): the tests of every tier run on whatever the process was started with.
struct ScopedKernelSet {
  explicit ScopedKernelSet(KernelSet k) : before(forced_kernel_set()) { force_kernel_set(k); }
  ~ScopedKernelSet() { force_kernel_set(before); }
  ScopedKernelSet(const ScopedKernelSet&) = delete;
  ScopedKernelSet& operator=(const ScopedKernelSet&) = delete;
  std::optional<KernelSet> before;
};

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
