// AVX-512 (F, BW, VL, BF16) matmul kernels. Only called when the CPU has them; the file is
// compiled with those instruction sets enabled and uses no library templates, so nothing
// compiled for AVX-512 leaks into code that runs elsewhere.
#pragma once
#include <cstdint>

#include "kernels/matmul.h"

namespace adallava::avx512 {

// Few-row product (decode): streams each weight row once for all M (≤ 4) activation rows with
// FMAs. Requires W.col_stride == 1. With round_activations the rows of x are rounded to bf16
// first (bf16 precision; then W must be bf16); workspace: gemv_workspace_bytes.
void matmul_gemv(float* y, int64_t ldy, const float* x, int64_t ldx, int64_t M, const WeightView& W,
                 const float* bias, bool accumulate, bool round_activations, void* workspace);
size_t gemv_workspace_bytes(int64_t M, int64_t K);

// The same for bf16 weights under bf16 precision: activations rounded to bf16 and multiplied
// with vdpbf16ps. Requires W.col_stride == 1; workspace: gemv_bf16_workspace_bytes.
void matmul_gemv_bf16(float* y, int64_t ldy, const float* x, int64_t ldx, int64_t M, const WeightView& W,
                      const float* bias, bool accumulate, void* workspace);
size_t gemv_bf16_workspace_bytes(int64_t M, int64_t K);

// Blocked product with per-call packing of W panels. Under bf16 precision dpbf16 picks
// vdpbf16ps; without it the operands are rounded to bf16 and multiplied with FMAs (the faster
// choice where vdpbf16ps is slow). Work buffer: see gemm_workspace_bytes.
void matmul_gemm(float* y, int64_t ldy, const float* x, int64_t ldx, int64_t M, const WeightView& W,
                 const float* bias, Precision precision, bool dpbf16, bool accumulate, void* workspace);

size_t gemm_workspace_bytes(int64_t M, int64_t K, int n_threads);

// f32 → bf16 bits, rounding to nearest even (vcvtneps2bf16; the CPU must have AVX512_BF16).
void to_bf16_row(const float* in, uint16_t* out, int64_t n);

// vdpbf16ps' FLOP rate over that of FP32 FMAs on this core (one thread, a few milliseconds).
double dpbf16_flops_over_fma();
// `iters` rounds of 12 independent FMA chains in registers; returns the flops done (the FMA
// peak probe's loop).
double fma_chains(long iters);

}  // namespace adallava::avx512
