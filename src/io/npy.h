// NPY v1/v2 arrays (little-endian, C order): reading the fixtures, writing logits.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace adallava {

struct NpyArray {
  std::string descr;            // e.g. "<f4", "<i8", "|u1"
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;   // raw little-endian data

  int64_t numel() const;
  std::vector<float> to_f32() const;     // from f4, f8, f2, integer types
  std::vector<double> to_f64() const;
  std::vector<int64_t> to_i64() const;   // from integer types (and exact floats)
};

NpyArray read_npy(const std::string& path);
void write_npy_f32(const std::string& path, const float* data, const std::vector<int64_t>& shape);

}  // namespace adallava
