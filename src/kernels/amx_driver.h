// The AMX product's driver, shared by the hardware tiles (matmul_amx.cpp) and their emulation
// (amx_emulated.cpp). Tiles supplies configure(), release() and
//   kernel_2x2(w0, w1, w_stride_bytes, x0, x1, k_steps, c):
// four 16 × 16 f32 tiles c[a][b] = Σ over k_steps of W-tile a (16 rows × 32 bf16 from w_a, rows
// w_stride apart) times x-tile b (16 K-pair rows of 16 columns, 1 KB each, contiguous from x_b),
// stored row-major into c (c + (2a + b) · 256).
// Everything here is plain C++ in templates over Tiles (or static), so each file compiles its own
// copy with its own flags and uses no library templates.
#pragma once
#include <omp.h>

#include <cstdint>
#include <cstring>

#include "kernels/matmul.h"

namespace adallava::amx_driver {

constexpr int kTileRows = 16;                   // rows of every tile
constexpr int kTileK = 32;                      // bf16 values along k in one tile row (64 bytes)
constexpr int kBlock = 2 * kTileRows;           // output rows and columns of one 2 × 2 step
constexpr int64_t kWeightBlockBytes = 1 << 20;  // weights kept in L2 while the activations pass

static inline int64_t round_up(int64_t a, int64_t b) { return (a + b - 1) / b * b; }

template <class Tiles>
struct Gemm {
  float* y;
  int64_t ldy;
  const float* x;
  int64_t ldx, M;
  const WeightView& W;
  const float* bias;
  bool accumulate;

  int64_t N() const { return W.rows; }
  int64_t K() const { return W.cols; }
  int64_t Kp() const { return round_up(K(), kTileK); }
  int64_t Mp() const { return round_up(M, kBlock); }
  // Weight rows per work item: a multiple of kBlock whose bf16 rows fit kWeightBlockBytes.
  int64_t rows_per_item() const {
    const int64_t blocks = kWeightBlockBytes / (kBlock * Kp() * 2);
    return kBlock * (blocks < 1 ? 1 : blocks > 8 ? 8 : blocks);
  }

  // Round to nearest even, as f32_to_bf16 (tensor/dtype.h); a copy of its own, since an inline
  // function shared with code compiled for other CPUs could be the copy the linker keeps.
  static uint16_t to_bf16(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1u);
    return uint16_t(u >> 16);
  }

  // Activations → x tiles: for each 16 rows, [Kp/2][16][2] bf16 (rows past M and k past K zero).
  void pack_x(uint16_t* xp, int64_t tile) const {
    uint16_t* dst = xp + tile * Kp() * kTileRows;
    for (int64_t kp = 0; kp < Kp() / 2; ++kp)
      for (int j = 0; j < kTileRows; ++j)
        for (int e = 0; e < 2; ++e) {
          const int64_t m = tile * kTileRows + j, k = 2 * kp + e;
          dst[(kp * kTileRows + j) * 2 + e] = m < M && k < K() ? to_bf16(x[m * ldx + k]) : 0;
        }
  }

  // Rows [n0, n0 + rows) of W as tile operands: in place when whole, else copied with zero padding
  // (a partial block, or a K that is not a multiple of a tile's 32 values).
  const uint16_t* weights(int64_t n0, int64_t rows, uint16_t* scratch, int64_t* stride_bytes) const {
    const auto* w = static_cast<const uint16_t*>(W.data);
    if (n0 + rows <= N() && K() % kTileK == 0) {
      *stride_bytes = W.row_stride * 2;
      return w + n0 * W.row_stride;
    }
    for (int64_t r = 0; r < rows; ++r) {
      uint16_t* dst = scratch + r * Kp();
      const int64_t valid = n0 + r < N() ? K() : 0;
      if (valid) std::memcpy(dst, w + (n0 + r) * W.row_stride, size_t(valid) * 2);
      std::memset(dst + valid, 0, size_t(Kp() - valid) * 2);
    }
    *stride_bytes = Kp() * 2;
    return scratch;
  }

  // c[a][b][i][j] holds y[m0 + 16b + j][n0 + 16a + i].
  void write_out(const float* c, int64_t m0, int64_t n0) const {
    for (int a = 0; a < 2; ++a)
      for (int b = 0; b < 2; ++b)
        for (int j = 0; j < kTileRows; ++j) {
          const int64_t m = m0 + b * kTileRows + j;
          if (m >= M) break;
          float* out = y + m * ldy;
          for (int i = 0; i < kTileRows; ++i) {
            const int64_t n = n0 + a * kTileRows + i;
            if (n >= N()) break;
            float v = c[(2 * a + b) * kTileRows * kTileRows + i * kTileRows + j] + (bias ? bias[n] : 0.f);
            out[n] = accumulate ? out[n] + v : v;
          }
        }
  }

  // One work item: weight rows [n0, n0 + rows) against every activation row.
  void item(const uint16_t* xp, int64_t n0, int64_t rows, uint16_t* scratch, float* c) const {
    int64_t ws = 0;
    const uint16_t* w = weights(n0, rows, scratch, &ws);
    const int64_t w_row = ws / 2, x_tile = Kp() * kTileRows;
    for (int64_t m0 = 0; m0 < Mp(); m0 += kBlock)
      for (int64_t r = 0; r < rows; r += kBlock) {
        const uint16_t* w0 = w + r * w_row;
        const uint16_t* x0 = xp + (m0 / kTileRows) * x_tile;
        Tiles::kernel_2x2(w0, w0 + kTileRows * w_row, ws, x0, x0 + x_tile, int(Kp() / kTileK), c);
        write_out(c, m0, n0 + r);
      }
  }

  static size_t workspace_bytes(int64_t M, int64_t K, int n_threads) {
    const int64_t Kp = round_up(K, kTileK);
    const int64_t per_thread = 8 * kBlock * Kp * 2 + 4 * kTileRows * kTileRows * 4;
    return size_t(round_up(M, kBlock) * Kp * 2 + n_threads * per_thread + 3 * 64);
  }

  void run(void* workspace) const {
    auto align = [](void* p) { return reinterpret_cast<uint8_t*>(round_up(reinterpret_cast<intptr_t>(p), 64)); };
    uint16_t* xp = reinterpret_cast<uint16_t*>(align(workspace));
    uint8_t* per_thread_base = align(xp + Mp() * Kp());
    const int64_t per_thread = 8 * kBlock * Kp() * 2 + 4 * kTileRows * kTileRows * 4;
    const int64_t step = rows_per_item(), items = (N() + step - 1) / step;
#pragma omp parallel
    {
      uint8_t* mine = per_thread_base + omp_get_thread_num() * per_thread;
      auto* scratch = reinterpret_cast<uint16_t*>(mine);
      auto* c = reinterpret_cast<float*>(mine + 8 * kBlock * Kp() * 2);
#pragma omp for schedule(static)
      for (int64_t t = 0; t < Mp() / kTileRows; ++t) pack_x(xp, t);
      Tiles::configure();
#pragma omp for schedule(dynamic, 1)
      for (int64_t i = 0; i < items; ++i) {
        const int64_t n0 = i * step;
        item(xp, n0, round_up(N() - n0 < step ? N() - n0 : step, kBlock), scratch, c);
      }
      Tiles::release();
    }
  }
};

}  // namespace adallava::amx_driver
