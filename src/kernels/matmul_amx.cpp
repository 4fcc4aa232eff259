#include "kernels/matmul_amx.h"

#include <immintrin.h>

#include "kernels/amx_driver.h"

namespace adallava::amx {

namespace {

// Tiles 0-3: the four f32 accumulators; 4, 5: two weight tiles; 6, 7: two activation tiles.
// Every tile is 16 rows × 64 bytes (palette 1). The intrinsics name tiles by literal number.
struct HwTiles {
  static void configure() {
    alignas(64) uint8_t cfg[64] = {};
    cfg[0] = 1;  // palette
    for (int t = 0; t < 8; ++t) {
      cfg[16 + 2 * t] = 64;  // bytes per row (little-endian u16)
      cfg[48 + t] = 16;      // rows
    }
    _tile_loadconfig(cfg);
  }
  static void release() { _tile_release(); }

  static void kernel_2x2(const uint16_t* w0, const uint16_t* w1, int64_t w_stride, const uint16_t* x0,
                         const uint16_t* x1, int k_steps, float* c) {
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    for (int s = 0; s < k_steps; ++s) {
      _tile_loadd(4, w0 + s * amx_driver::kTileK, w_stride);
      _tile_loadd(5, w1 + s * amx_driver::kTileK, w_stride);
      _tile_loadd(6, x0 + s * 512, 64);
      _tile_loadd(7, x1 + s * 512, 64);
      _tile_dpbf16ps(0, 4, 6);
      _tile_dpbf16ps(1, 4, 7);
      _tile_dpbf16ps(2, 5, 6);
      _tile_dpbf16ps(3, 5, 7);
    }
    _tile_stored(0, c, 64);
    _tile_stored(1, c + 256, 64);
    _tile_stored(2, c + 512, 64);
    _tile_stored(3, c + 768, 64);
  }
};

}  // namespace

void matmul_gemm_bf16(float* y, int64_t ldy, const float* x, int64_t ldx, int64_t M, const WeightView& W,
                      const float* bias, bool accumulate, void* workspace) {
  amx_driver::Gemm<HwTiles>{y, ldy, x, ldx, M, W, bias, accumulate}.run(workspace);
}

size_t gemm_workspace_bytes(int64_t M, int64_t K, int n_threads) {
  return amx_driver::Gemm<HwTiles>::workspace_bytes(M, K, n_threads);
}

}  // namespace adallava::amx
