// AMX's tile product in plain C++ (Intel's TDPBF16PS pseudo-code: per output, the two products
// of a K-pair added in order; a product of two bf16 values is exact in f32), driven by the same
// code as the hardware tiles.
#include "kernels/amx_driver.h"
#include "kernels/matmul_amx.h"

namespace adallava::amx {

namespace {

float widen(uint16_t h) {
  const uint32_t u = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

struct EmulatedTiles {
  static void configure() {}
  static void release() {}

  static void to_bf16_row(const float* in, uint16_t* out, int64_t n) {
    for (int64_t e = 0; e < n; ++e) out[e] = amx_driver::to_bf16(in[e]);
  }

  static bool pack_b_interleaved(DType, const uint8_t* const*, uint16_t*) { return false; }

  static void pack_b(const uint16_t* w, int64_t w_stride, uint16_t* b) {
    for (int p = 0; p < amx_driver::kTileK / 2; ++p)
      for (int q = 0; q < amx_driver::kTileRows; ++q)
        for (int e = 0; e < 2; ++e) b[(p * amx_driver::kTileRows + q) * 2 + e] = w[q * w_stride + 2 * p + e];
  }

  static void kernel_2x2(const uint16_t* a0, const uint16_t* a1, const uint16_t* b0, const uint16_t* b1, int k_steps,
                         float* c, bool load_c) {
    using amx_driver::kTileK;
    using amx_driver::kTileRows;
    using amx_driver::kTileValues;
    const uint16_t* a[2] = {a0, a1};
    const uint16_t* b[2] = {b0, b1};
    if (!load_c)
      for (int t = 0; t < 4 * kTileRows * kTileRows; ++t) c[t] = 0.f;
    for (int s = 0; s < k_steps; ++s)
      for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 2; ++j) {
          float* tile = c + (2 * i + j) * kTileRows * kTileRows;
          const uint16_t* as = a[i] + s * kTileValues;  // [16 rows][32 k]
          const uint16_t* bs = b[j] + s * kTileValues;  // [16 K-pairs][16 columns][2]
          for (int r = 0; r < kTileRows; ++r)
            for (int p = 0; p < kTileK / 2; ++p)
              for (int q = 0; q < kTileRows; ++q) {
                float v = tile[r * kTileRows + q];
                v += widen(as[r * kTileK + 2 * p]) * widen(bs[(p * kTileRows + q) * 2]);
                v += widen(as[r * kTileK + 2 * p + 1]) * widen(bs[(p * kTileRows + q) * 2 + 1]);
                tile[r * kTileRows + q] = v;
              }
        }
  }
};

}  // namespace

void matmul_gemm_bf16_emulated(float* y, int64_t ldy, const float* x, int64_t ldx, int64_t M, const WeightView& W,
                               const float* bias, bool accumulate, void* workspace) {
  amx_driver::Gemm<EmulatedTiles>{y, ldy, x, ldx, M, W, bias, accumulate}.run(workspace);
}

}  // namespace adallava::amx
