// Writing GGUF version 3 files (alignment 32) as llama.cpp's gguf-py does: typed key-values,
// then tensor infos, then the tensors' bytes, written to PATH.tmp and renamed over PATH.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tensor/byte_buffer.h"
#include "tensor/dtype.h"

namespace adallava {

class GgufWriter {
 public:
  void add_string(const std::string& key, const std::string& v);
  void add_u32(const std::string& key, uint32_t v);
  void add_i32(const std::string& key, int32_t v);
  void add_f32(const std::string& key, float v);
  void add_bool(const std::string& key, bool v);
  void add_strings(const std::string& key, const std::vector<std::string>& v);
  void add_f32s(const std::string& key, const std::vector<float>& v);
  void add_i32s(const std::string& key, const std::vector<int32_t>& v);
  // shape is row-major, outermost first (PyTorch's); bytes are the tensor's stored blocks.
  void add_tensor(const std::string& name, DType dtype, const std::vector<int64_t>& shape, ByteBuffer bytes);
  void write(const std::string& path) const;
  size_t tensor_count() const { return tensors_.size(); }

 private:
  struct Tensor {
    std::string name;
    DType dtype;
    std::vector<int64_t> shape;
    ByteBuffer bytes;
  };
  void key(const std::string& k, uint32_t type);
  std::string kv_;
  uint64_t n_kv_ = 0;
  std::vector<Tensor> tensors_;
};

}  // namespace adallava
