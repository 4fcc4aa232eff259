// Scaled dot-product attention over head-major K/V storage. Sums and softmax are f32; the
// stored K/V are f32, or bf16 when activations are (as PyTorch caches a bf16 model's K/V).
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels/matmul.h"
#include "tensor/dtype.h"

namespace adallava {

// K and V of one layer, head-major: head g, row t at base + (g * capacity + t) * head_dim.
struct KvView {
  void* k = nullptr;
  void* v = nullptr;
  int64_t capacity = 0;
  int head_dim = 0;
  int n_kv_heads = 0;
  DType dtype = DType::F32;  // F32 or BF16

  // Head g, row t of K or V (pointer to its first element).
  void* row(void* base, int g, int64_t t) const {
    return static_cast<uint8_t*>(base) + ((int64_t(g) * capacity + t) * head_dim) * int64_t(dtype_size(dtype));
  }
};

// out (T, n_heads*head_dim) = softmax(q kᵀ * scale + mask) v for T query rows q (T, ldq).
// Query row t sees key rows [0, past + t] when causal, all `past + T` rows otherwise.
// Query head h reads kv head h / (n_heads / n_kv_heads) (grouped-query attention).
// probs, if given, receives the softmax (n_heads, T, past + T), masked entries 0 (training
// keeps it for the backward). products: the precision of q·kᵀ and p·v when there are many query
// rows (bf16: operands rounded to bf16, as a bf16 model's attention, which lets AMX tiles run
// them); decode rows stay f32.
void attention(float* out, int64_t ldo, const float* q, int64_t ldq, int64_t T, int64_t past, int n_heads,
               const KvView& kv, float scale, bool causal, float* probs = nullptr,
               Precision products = Precision::F32);

// Copies new K and V rows (T, n_kv*head_dim) into cache rows [past, past + T), rounding to
// bf16 for a bf16 cache.
void kv_store(const KvView& kv, const float* k, int64_t ldk, const float* v, int64_t ldv, int64_t T, int64_t past);

}  // namespace adallava
