#include "bench/compute_probe.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>

#include "kernels/cpu_features.h"
#include "kernels/matmul_avx512.h"

namespace adallava {

namespace {

constexpr int kChains = 12;  // independent accumulators: enough to cover the FMA latency on 2 ports
constexpr long kIters = 1 << 22;

__attribute__((target("avx2,fma"))) double fma_chains_avx2() {
  __m256 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm256_set1_ps(float(i));
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  for (long it = 0; it < kIters; ++it)
    for (int i = 0; i < kChains; ++i) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
  __m256 sum = acc[0];
  for (int i = 1; i < kChains; ++i) sum = _mm256_add_ps(sum, acc[i]);
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, sum);
  volatile float sink = lanes[0];  // keeps the chains alive
  (void)sink;
  return 2.0 * 8 * kChains * double(kIters);  // flops done
}

double fma_chains_portable() {
  float acc[kChains][8];
  for (int i = 0; i < kChains; ++i) std::fill(acc[i], acc[i] + 8, float(i));
  for (long it = 0; it < kIters / 4; ++it)
    for (int i = 0; i < kChains; ++i)
      for (int l = 0; l < 8; ++l) acc[i][l] = acc[i][l] * 0.999999f + 1e-7f;
  volatile float sink = acc[0][0];
  (void)sink;
  return 2.0 * 8 * kChains * double(kIters / 4);
}

}  // namespace

double measure_fma_peak_gflops(int repeats) {
  const bool avx512 = cpu_features().avx512;
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  double best = 0;
  for (int r = 0; r < repeats; ++r) {
    double flops = 0;
    const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel reduction(+ : flops)
    flops += avx512 ? avx512::fma_chains(kIters) : avx2 ? fma_chains_avx2() : fma_chains_portable();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, flops / s / 1e9);
  }
  return best;
}

}  // namespace adallava
