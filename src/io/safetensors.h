// Safetensors checkpoints (single file or sharded with model.safetensors.index.json), memory
// mapped and validated: header size, dtypes, shapes against byte ranges, ranges inside the
// file, no overlaps. Tensors are views into the mapping.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tensor/byte_buffer.h"
#include "tensor/dtype.h"
#include "tensor/mapped_file.h"

namespace adallava {

struct TensorRecord {
  std::string name;
  std::string dtype_name;     // as written in the header, e.g. "BF16", "I64"
  bool is_float = false;      // a type the engine computes with (float or block-quantized)
  DType dtype = DType::F32;   // valid when is_float
  std::vector<int64_t> shape;
  const void* data = nullptr;
  size_t nbytes = 0;
  std::string file;           // path of the shard that holds it

  int64_t numel() const;
};

class TensorStore {
 public:
  // Opens DIR/model.safetensors.index.json if present, else DIR/model.safetensors.
  static TensorStore open_dir(const std::string& dir);
  // Opens one .safetensors file.
  void add_file(const std::string& path);
  // Adds a tensor whose bytes the store owns (synthetic models, converted weights).
  void add_owned(const std::string& name, DType dtype, const std::vector<int64_t>& shape, ByteBuffer bytes);
  // Adds a tensor whose bytes live elsewhere and outlive the store (training's f32 params).
  void add_view(const std::string& name, DType dtype, const std::vector<int64_t>& shape, const void* data);
  // Adds a tensor whose bytes `owner` keeps alive (a GGUF file's mapping).
  void add_mapped(TensorRecord r, std::shared_ptr<const void> owner);
  void set_origin(const std::string& origin) { origin_ = origin; }

  bool has(const std::string& name) const { return records_.count(name) != 0; }
  const TensorRecord* find(const std::string& name) const;
  // The tensor with this exact shape and a float dtype; throws Error naming the tensor.
  const TensorRecord& get(const std::string& name, const std::vector<int64_t>& shape) const;
  const std::map<std::string, TensorRecord>& records() const { return records_; }
  const std::string& origin() const { return origin_; }

 private:
  std::string origin_;  // the directory or file the store was opened from, for messages
  std::vector<std::unique_ptr<MappedFile>> files_;
  std::vector<ByteBuffer> owned_;  // realigned copies and added tensors
  std::vector<std::shared_ptr<const void>> kept_;  // other files' mappings
  std::map<std::string, TensorRecord> records_;
};

std::string shape_str(const std::vector<int64_t>& shape);

}  // namespace adallava
