// An owned, 64-byte aligned block of bytes that is NOT zero-filled (std::vector<uint8_t> would
// write every byte once before the caller fills it). Blocks of 2 MiB or more are 2 MiB aligned
// and advised as transparent huge pages: multi-GB synthetic models fault in 512× fewer pages.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>

namespace adallava {

class ByteBuffer {
 public:
  ByteBuffer() = default;
  explicit ByteBuffer(size_t bytes);
  uint8_t* data() { return data_.get(); }
  const uint8_t* data() const { return data_.get(); }
  size_t size() const { return size_; }

 private:
  struct Free {
    void operator()(uint8_t* p) const;
  };
  std::unique_ptr<uint8_t, Free> data_;
  size_t size_ = 0;
};

}  // namespace adallava
