// The fp32 FMA peak of this machine, measured (the shared machine's clock and neighbours vary):
// every thread runs independent register-only FMA chains. Benchmarks report their products'
// GFLOP/s as a fraction of it.
#pragma once

namespace adallava {

// Best-of-`repeats` GFLOP/s of fp32 FMAs with all threads (AVX-512 where the CPU has it).
double measure_fma_peak_gflops(int repeats = 3);

}  // namespace adallava
