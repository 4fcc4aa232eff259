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

  static void kernel_2x2(const uint16_t* w0, const uint16_t* w1, int64_t w_stride, const uint16_t* x0,
                         const uint16_t* x1, int k_steps, float* c) {
    using amx_driver::kTileK;
    using amx_driver::kTileRows;
    const uint16_t* w[2] = {w0, w1};
    const uint16_t* x[2] = {x0, x1};
    const int64_t w_row = w_stride / 2;
    for (int t = 0; t < 4 * kTileRows * kTileRows; ++t) c[t] = 0.f;
    for (int s = 0; s < k_steps; ++s)
      for (int a = 0; a < 2; ++a)
        for (int b = 0; b < 2; ++b) {
          float* tile = c + (2 * a + b) * kTileRows * kTileRows;
          const uint16_t* xs = x[b] + s * kTileRows * kTileK;
          for (int i = 0; i < kTileRows; ++i) {
            const uint16_t* wr = w[a] + i * w_row + s * kTileK;
            for (int p = 0; p < kTileK / 2; ++p)
              for (int j = 0; j < kTileRows; ++j) {
                float v = tile[i * kTileRows + j];
                v += widen(wr[2 * p]) * widen(xs[(p * kTileRows + j) * 2]);
                v += widen(wr[2 * p + 1]) * widen(xs[(p * kTileRows + j) * 2 + 1]);
                tile[i * kTileRows + j] = v;
              }
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
