// AVX2 + FMA + F16C matmul kernels, for x86 CPUs without AVX-512 (Zen 1 to 3, most desktop
// Intel parts). Only called when the CPU has them; the file is compiled with those instruction
// sets and uses no library templates, so nothing compiled for AVX2 leaks into code that runs
// elsewhere. bf16 precision is computed exactly as vdpbf16ps would (up to summation order): the
// activations, and weights stored wider, are rounded to bf16, and a product of two bf16 values
// is exact in f32.
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels/matmul.h"

namespace adallava::avx2 {

// Few-row product (decode): streams each weight row once for all M (≤ 4) activation rows.
// Requires W.col_stride == 1. With round_activations the rows of x are rounded to bf16 first
// (bf16 precision; then W must be bf16); workspace: gemv_workspace_bytes.
void matmul_gemv(float* y, int64_t ldy, const float* x, int64_t ldx, int64_t M, const WeightView& W,
                 const float* bias, bool accumulate, bool round_activations, void* workspace);
size_t gemv_workspace_bytes(int64_t M, int64_t K);

// Blocked product with per-call packing of W panels (any strides). Work buffer:
// gemm_workspace_bytes.
void matmul_gemm(float* y, int64_t ldy, const float* x, int64_t ldx, int64_t M, const WeightView& W,
                 const float* bias, Precision precision, bool accumulate, void* workspace);
size_t gemm_workspace_bytes(int64_t M, int64_t K, bool bf16, int n_threads);

}  // namespace adallava::avx2
