#include "test_util.h"

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <random>

namespace adallava::test {
namespace fs = std::filesystem;

std::string fixtures_dir() {
  const char* env = std::getenv("ADALLAVA_FIXTURES");
  return env && *env ? env : ADALLAVA_FIXTURES_DEFAULT;
}

std::string fixture(const std::string& name) { return fixtures_dir() + "/" + name; }

std::vector<std::string> fixtures_of_type(const std::string& model_type, bool token_selection) {
  std::vector<std::string> out;
  if (!fs::is_directory(fixtures_dir())) return out;
  for (auto& e : fs::directory_iterator(fixtures_dir())) {
    fs::path cfg = e.path() / "config.json";
    if (!fs::exists(cfg)) continue;
    std::ifstream in(cfg);
    auto j = nlohmann::json::parse(in, nullptr, false);
    if (!j.is_object() || j.value("model_type", "") != model_type) continue;
    const auto sel = j.find("token_selecting");
    const bool selects = sel != j.end() && sel->is_string() && *sel != "none";
    if (selects == token_selection) out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

nlohmann::json manifest(const std::string& dir) {
  std::ifstream in(dir + "/manifest.json");
  return nlohmann::json::parse(in);
}

std::vector<float> npy_f32(const std::string& path) { return read_npy(path).to_f32(); }
std::vector<int64_t> npy_i64(const std::string& path) { return read_npy(path).to_i64(); }

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double m = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    double d = std::fabs(double(a[i]) - double(b[i]));
    if (std::isnan(d)) return INFINITY;
    m = std::max(m, d);
  }
  return m;
}

::testing::AssertionResult all_close(const std::vector<float>& got, const std::vector<float>& want, double atol,
                                     const std::string& what) {
  if (got.size() != want.size())
    return ::testing::AssertionFailure() << what << ": size " << got.size() << " vs expected " << want.size();
  double d = max_abs_diff(got, want);
  if (d <= atol) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << what << ": max abs diff " << d << " > atol " << atol;
}

TempDir::TempDir() {
  std::random_device rd;
  path = (fs::temp_directory_path() / ("adallava_test_" + std::to_string(rd()) + std::to_string(rd()))).string();
  fs::create_directories(path);
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path, ec);
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), std::streamsize(bytes.size()));
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace adallava::test
