// GGUF files (llama.cpp's model format, versions 2 and 3), memory mapped and validated: magic,
// version, counts and string lengths against the bytes left, value types, tensor types,
// dimensions and their products, offsets inside the data section. Tensors are views into the
// mapping; key-values are kept as JSON values (arrays of numbers or strings included).
#pragma once
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tensor/dtype.h"
#include "tensor/mapped_file.h"

namespace adallava {

struct GgufTensor {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;  // row-major, outermost first (GGUF's ne reversed), as PyTorch's
  const void* data = nullptr;
  size_t nbytes = 0;
};

class GgufFile {
 public:
  explicit GgufFile(const std::string& path);  // throws Error naming the path and what is wrong

  const std::string& path() const { return file_->path(); }
  uint32_t version() const { return version_; }
  const std::map<std::string, nlohmann::json>& metadata() const { return kv_; }
  const std::vector<GgufTensor>& tensors() const { return tensors_; }

  bool has(const std::string& key) const { return kv_.count(key) != 0; }
  // A key's value; throws Error naming the file and key when it is missing or of another kind.
  std::string get_string(const std::string& key) const;
  int64_t get_int(const std::string& key) const;
  double get_float(const std::string& key) const;
  bool get_bool(const std::string& key) const;
  const nlohmann::json& get_array(const std::string& key) const;
  // The same with a default for a missing key.
  int64_t get_int(const std::string& key, int64_t fallback) const;
  double get_float(const std::string& key, double fallback) const;
  std::string get_string(const std::string& key, const std::string& fallback) const;

 private:
  const nlohmann::json& get(const std::string& key, bool (nlohmann::json::*is)() const, const char* kind) const;

  std::shared_ptr<MappedFile> file_;
  uint32_t version_ = 0;
  std::map<std::string, nlohmann::json> kv_;
  std::vector<GgufTensor> tensors_;
  friend std::shared_ptr<MappedFile> gguf_mapping(const GgufFile& f);
};

// The mapping the tensors point into (a TensorStore keeps it alive).
std::shared_ptr<MappedFile> gguf_mapping(const GgufFile& f);

// ggml's type numbers for the types adallava reads and writes.
int ggml_type_of(DType t);

}  // namespace adallava
