// AVX-512 kernel for the decode case of attention: one query row against the cached keys and
// values of one head. Only called when the AVX-512 kernels run (see kernel_set.h).
#pragma once
#include <cstdint>

namespace adallava::avx512 {

// out (head_dim) = softmax(scale · K q) · V over n cached rows; K, V rows are head_dim apart,
// f32 or (bf16_kv) bf16. scores: n floats of scratch.
void attend_row(float* out, const float* q, const void* K, const void* V, bool bf16_kv, int64_t n, int head_dim,
                float scale, float* scores);

}  // namespace adallava::avx512
