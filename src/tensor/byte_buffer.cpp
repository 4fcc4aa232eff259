#include "tensor/byte_buffer.h"

#include <sys/mman.h>

#include <cstdlib>
#include <new>

namespace adallava {

ByteBuffer::ByteBuffer(size_t bytes) : size_(bytes) {
  constexpr size_t kHuge = size_t(1) << 21;
  const size_t align = bytes >= kHuge ? kHuge : 64;
  const size_t rounded = (bytes + align - 1) / align * align;  // aligned_alloc wants a multiple
  void* p = std::aligned_alloc(align, rounded == 0 ? align : rounded);
  if (!p) throw std::bad_alloc();
  if (align == kHuge) madvise(p, rounded, MADV_HUGEPAGE);  // advice only: failure is harmless
  data_.reset(static_cast<uint8_t*>(p));
}

void ByteBuffer::Free::operator()(uint8_t* p) const { std::free(p); }

}  // namespace adallava
