// A read-only memory mapping of a whole file. Weights are used in place from the page cache.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace adallava {

class MappedFile {
 public:
  explicit MappedFile(const std::string& path);  // throws Error naming the path
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  // Drops the whole pages of [p, p + n) (inside this mapping) from the process's memory: bytes
  // that were copied elsewhere stop counting towards its resident size. Reads stay valid.
  void release(const void* p, size_t n) const;
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace adallava
