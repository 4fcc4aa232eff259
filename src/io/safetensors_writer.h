// Writes a .safetensors file (the format TensorStore reads and transformers writes): an 8-byte
// little-endian header length, a JSON header of dtype/shape/data_offsets per tensor (padded
// with spaces to 8 bytes), then the data in header order. The file appears whole or not at all
// (written to a temporary name, then renamed).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tensor/dtype.h"

namespace adallava {

struct TensorToWrite {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const void* data = nullptr;  // numel · dtype_size bytes
};

void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors);

}  // namespace adallava
