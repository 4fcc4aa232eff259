// Measurements the benchmarks report beside their timings: DRAM read bandwidth (over buffers
// that are not in cache) and the process's peak resident memory.
#pragma once
#include <cstddef>
#include <utility>
#include <vector>

namespace adallava {

// Best-of-`repeats` read bandwidth in GB/s streaming the given spans with all threads.
double measure_read_bandwidth(const std::vector<std::pair<const void*, size_t>>& spans, int repeats = 3);
size_t peak_rss_bytes();

}  // namespace adallava
