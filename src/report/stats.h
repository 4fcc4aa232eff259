// Order statistics of measured times, for the benchmarks' and eval's summaries.
#pragma once
#include <algorithm>
#include <vector>

namespace adallava {

// The q-quantile (0..1) of v, the nearest sample; 0 for none.
inline double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, size_t(q * double(v.size() - 1) + 0.5))];
}

// The median, the mean of the middle two for an even count; 0 for none.
inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n == 0 ? 0 : n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace adallava
