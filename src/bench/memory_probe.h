// Measurements the benchmarks report beside their timings: DRAM read bandwidth (over buffers
// that are not in cache) and the process's peak resident memory.
#pragma once
#include <cstddef>
#include <utility>
#include <vector>

#include "tensor/byte_buffer.h"

namespace adallava {

// Best-of-`repeats` read bandwidth in GB/s streaming the given spans as the decode reads its
// weights: all threads taking ~256 KB pieces as they finish, the widest loads the CPU has, four
// independent accumulators (the loop is bound by loads, not by adds).
double measure_read_bandwidth(const std::vector<std::pair<const void*, size_t>>& spans, int repeats = 3);
// A buffer far beyond any cache (1 GiB by default), filled once, for the same probe: a plain
// read of memory that a benchmark pairs with its own measurements.
class ReadBuffer {
 public:
  explicit ReadBuffer(size_t bytes = size_t(1) << 30);
  double measure(int repeats = 1) const { return measure_read_bandwidth({{buf_.data(), buf_.size()}}, repeats); }
  size_t bytes() const { return buf_.size(); }

 private:
  ByteBuffer buf_;
};
size_t peak_rss_bytes();

}  // namespace adallava
