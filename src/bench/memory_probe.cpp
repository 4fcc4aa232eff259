#include "bench/memory_probe.h"

#include <omp.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdint>
#include <cstring>

namespace adallava {

double measure_read_bandwidth(const std::vector<std::pair<const void*, size_t>>& spans, int repeats) {
  size_t total = 0;
  for (auto& s : spans) total += s.second / 64 * 64;
  double best = 0;
  volatile uint64_t sink = 0;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    uint64_t acc = 0;
    for (auto& [ptr, bytes] : spans) {
      const auto* p = static_cast<const uint64_t*>(ptr);
      const int64_t n = int64_t(bytes / 64) * 8;
#pragma omp parallel for reduction(^ : acc) schedule(static)
      for (int64_t i = 0; i < n; i += 8) {  // one cache line per iteration, all of it read
        acc ^= p[i] + p[i + 1] + p[i + 2] + p[i + 3] + p[i + 4] + p[i + 5] + p[i + 6] + p[i + 7];
      }
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    sink = sink + acc;
    best = std::max(best, double(total) / s / 1e9);
  }
  return best;
}

size_t peak_rss_bytes() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return size_t(u.ru_maxrss) * 1024;
}

}  // namespace adallava
