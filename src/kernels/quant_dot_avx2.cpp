#include <immintrin.h>

#include <cstring>

#include "kernels/quant_dot.h"

namespace adallava::avx2 {

// vpmaddubsw's i16 pair sums cannot saturate here: |u·s| ≤ 15·127 or 127·127, two per lane.
#define PRODUCT(u, s) _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1))
#include "kernels/quant_dot_x86.inc"
#undef PRODUCT

}  // namespace adallava::avx2
