#include "bench/memory_probe.h"

#include <immintrin.h>
#include <omp.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>

#include "kernels/cpu_features.h"
#include "kernels/quant_dot.h"

namespace adallava {

namespace {

constexpr size_t kPieceBytes = size_t(1) << 18;  // the decode GEMV's work item (~256 KB of weights)

// Each reader folds every 64-byte line of [p, p + bytes) into its result; bytes is a multiple of
// 256. The AVX-512 one prefetches as the decode's kernels do on this CPU (quant_dot.h), so the
// probe reads at least as fast as they can.
__attribute__((target("avx512f"))) uint64_t read_avx512(const uint8_t* p, size_t bytes) {
  const Prefetch ahead = fixed_prefetch();
  __m512i a = _mm512_setzero_si512(), b = a, c = a, d = a;
  for (size_t i = 0; i < bytes; i += 256) {
    if (ahead.near || ahead.far) prefetch(p + i, ahead, 4);
    a = _mm512_xor_si512(a, _mm512_loadu_si512(p + i));
    b = _mm512_xor_si512(b, _mm512_loadu_si512(p + i + 64));
    c = _mm512_xor_si512(c, _mm512_loadu_si512(p + i + 128));
    d = _mm512_xor_si512(d, _mm512_loadu_si512(p + i + 192));
  }
  alignas(64) uint64_t lanes[8];
  _mm512_store_si512(lanes, _mm512_xor_si512(_mm512_xor_si512(a, b), _mm512_xor_si512(c, d)));
  return lanes[0] ^ lanes[7];
}

__attribute__((target("avx2"))) uint64_t read_avx2(const uint8_t* p, size_t bytes) {
  __m256i a = _mm256_setzero_si256(), b = a, c = a, d = a;
  for (size_t i = 0; i < bytes; i += 128) {  // two lines per round; every line is touched
    a = _mm256_xor_si256(a, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i)));
    b = _mm256_xor_si256(b, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 32)));
    c = _mm256_xor_si256(c, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 64)));
    d = _mm256_xor_si256(d, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 96)));
  }
  alignas(32) uint64_t lanes[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), _mm256_xor_si256(_mm256_xor_si256(a, b), _mm256_xor_si256(c, d)));
  return lanes[0] ^ lanes[3];
}

uint64_t read_portable(const uint8_t* p, size_t bytes) {
  uint64_t a = 0, b = 0, c = 0, d = 0, w[4];
  for (size_t i = 0; i < bytes; i += 64) {
    std::memcpy(w, p + i, 32);
    a ^= w[0], b ^= w[1], c ^= w[2], d ^= w[3];
  }
  return a ^ b ^ c ^ d;
}

using Reader = uint64_t (*)(const uint8_t*, size_t);

Reader widest_reader() {
  const CpuFeatures& f = cpu_features();
  return f.avx512 ? read_avx512 : f.avx2 ? read_avx2 : read_portable;
}

}  // namespace

double measure_read_bandwidth(const std::vector<std::pair<const void*, size_t>>& spans, int repeats) {
  std::vector<std::pair<const uint8_t*, size_t>> pieces;
  size_t total = 0;
  for (auto& [ptr, bytes] : spans) {
    const auto* p = static_cast<const uint8_t*>(ptr);
    const size_t whole = bytes / 256 * 256;
    for (size_t off = 0; off < whole; off += kPieceBytes) pieces.push_back({p + off, std::min(kPieceBytes, whole - off)});
    total += whole;
  }
  const Reader read = widest_reader();
  const int64_t n = int64_t(pieces.size());
  double best = 0;
  volatile uint64_t sink = 0;
  for (int r = 0; r < repeats; ++r) {
    uint64_t acc = 0;
    const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel for reduction(^ : acc) schedule(dynamic, 1)
    for (int64_t i = 0; i < n; ++i) acc ^= read(pieces[size_t(i)].first, pieces[size_t(i)].second);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    sink = sink ^ acc;
    best = std::max(best, double(total) / s / 1e9);
  }
  return best;
}

ReadBuffer::ReadBuffer(size_t bytes) : buf_(bytes / 4096 * 4096) {
  const int64_t pages = int64_t(buf_.size() / 4096);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < pages; ++i) std::memset(buf_.data() + i * 4096, int(i & 0xff), 4096);  // fault it in
}

size_t peak_rss_bytes() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return size_t(u.ru_maxrss) * 1024;
}

}  // namespace adallava
