// bf16 products on AMX tiles (Intel Sapphire Rapids and later), for many activation rows:
// prefill, the vision tower, the projector. The weights are read in place: a weight matrix
// [N, K] stored row-major is already the A operand of a tile product (16 rows × 32 bf16), so
// the product is computed transposed, Cᵀ = W · xᵀ, with the activations packed per call into
// the K-pair layout of the B operand. Only called when the CPU has AMX-BF16 and Linux granted
// the tile state (cpu_features); the file is compiled with AMX enabled.
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels/matmul.h"

namespace adallava::amx {

// y[m, n] (+)= Σ_k bf16(x[m, k]) · W[n, k] (+ bias[n]), accumulated in f32 (bf16 precision).
// Requires bf16 weights with W.col_stride == 1, or quantized weights (dequantized to bf16 as
// they are packed). Workspace: gemm_workspace_bytes.
void matmul_gemm_bf16(float* y, int64_t ldy, const float* x, int64_t ldx, int64_t M, const WeightView& W,
                      const float* bias, bool accumulate, void* workspace);
size_t gemm_workspace_bytes(int64_t M, int64_t K, int n_threads);

// The same driver (packing, blocking, edges, write-out) on tiles emulated in plain C++, with the
// tile product's arithmetic: how the tests check it on CPUs without AMX.
void matmul_gemm_bf16_emulated(float* y, int64_t ldy, const float* x, int64_t ldx, int64_t M, const WeightView& W,
                               const float* bias, bool accumulate, void* workspace);

}  // namespace adallava::amx
