// AVX-512 versions of the row-wise operations whose cost is exp (ops.h): the same formulas with
// a 16-lane exp of about 1 ulp instead of libm's, so results differ from the portable ones in the
// last bit or two. Each lane is computed alone (the tail too, masked), so an element's value does
// not depend on where it sits. Only called when the AVX-512 kernels run (see kernel_set.h).
#pragma once
#include <cstdint>

namespace adallava::avx512 {

void softmax(float* x, int64_t n);
void silu(float* x, int64_t n);
void quick_gelu(float* x, int64_t n);
void swiglu(float* gate, const float* up, int64_t n);

}  // namespace adallava::avx512
