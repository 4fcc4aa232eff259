#include <immintrin.h>

#include <cstring>

#include "kernels/quant_dot.h"

namespace adallava::vnni {

#define PRODUCT(u, s) _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s)
#include "kernels/quant_dot_x86.inc"
#undef PRODUCT

}  // namespace adallava::vnni
