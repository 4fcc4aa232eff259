// AVX-512 versions of row-wise operations (ops.h): the same formulas, with a 16-lane exp of
// about 1 ulp instead of libm's and sums in 16 lanes, so results differ from the portable ones in
// the last bit or two. Element-wise results are computed lane by lane (the tail too, masked), so
// a value does not depend on where it sits. Only called when the AVX-512 kernels run (see
// kernel_set.h).
#pragma once
#include <cstdint>

namespace adallava::avx512 {

void softmax(float* x, int64_t n, float scale);  // of scale · x
void silu(float* x, int64_t n);
void quick_gelu(float* x, int64_t n);
void swiglu(float* gate, const float* up, int64_t n);
// One row of C values.
void rms_norm_row(float* out, const float* x, const float* w, int64_t C, float eps);
// dst = bf16(src), rounded to nearest even; NaN stays NaN (as f32_to_bf16).
void to_bf16(const float* src, uint16_t* dst, int64_t n);

}  // namespace adallava::avx512
