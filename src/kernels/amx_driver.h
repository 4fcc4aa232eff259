// The AMX product's driver, shared by the hardware tiles (matmul_amx.cpp) and their emulation
// (amx_emulated.cpp). Tiles supplies configure(), release(),
//   pack_b(w, w_stride, b): one B tile from 16 weight rows of 32 bf16 (w_stride values apart),
//   to_bf16_row(in, out, n): n floats rounded to bf16 as to_bf16 below,
//   pack_b_interleaved(t, blocks, b): one B tile straight from one block of four groups of an
//     interleaved type (Q4_0_R4, Q8_0_R4; blocks[i] = the block of rows 4i..4i+3), the values
//     as dequantize and to_bf16 give them; false where it has no such path,
// and
//   kernel_2x2(a0, a1, b0, b1, k_steps, c, load_c):
// four 16 × 16 f32 tiles c[i][j] (+)= Σ over k_steps of A-tile i times B-tile j (from c's values
// when load_c, else from zero), where an A tile is 16 activation rows × 32 bf16 (1 KB, from
// a_i + 512 · step) and a B tile is 16 K-pairs × 16 weight rows × 2 bf16 (1 KB, from
// b_j + 512 · step); tile (i, j) is stored row-major, 16 rows of 16 outputs, at c + (2i + j) · 256.
// Both operands are packed so that every tile is 1 KB of contiguous memory (tiles read with the
// stride of a weight row, 8 KB and more, would map all 16 rows to one L1 set): the activations
// once per call, the weights per work item (a block of output columns that stays in L2 while
// every activation row passes) and, for long rows, per chunk of k, with the sums kept between
// chunks in an f32 buffer (tiles stored and loaded back, so the result does not depend on the
// chunks). Quantized weights are dequantized to bf16 as they are packed (each weight once per
// call, so a long prompt pays for it once per matrix). Everything here is plain C++ in templates
// over Tiles (or static), so each file compiles its own copy with its own flags and uses no
// library templates.
#pragma once
#include <omp.h>

#include <cstdint>
#include <cstring>

#include "kernels/matmul.h"
#include "kernels/matmul_quant.h"

namespace adallava::amx_driver {

constexpr int kTileRows = 16;                   // rows of every tile
constexpr int kTileK = 32;                      // bf16 values along k in one tile row (64 bytes)
constexpr int kTileValues = kTileRows * kTileK;  // bf16 values in one tile (1 KB)
constexpr int kBlock = 2 * kTileRows;           // output rows and columns of one 2 × 2 step
constexpr int64_t kWeightBlockBytes = 1 << 20;  // weights kept in L2 while the activations pass
constexpr int64_t kChunkSteps = 64;             // k steps (of kTileK) per chunk of a long row

static inline int64_t round_up(int64_t a, int64_t b) { return (a + b - 1) / b * b; }
static inline int64_t min_of(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t clamp_to(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : v > hi ? hi : v; }

// Round to nearest even, as f32_to_bf16 (tensor/dtype.h); a copy of its own, since an inline
// function shared with code compiled for other CPUs could be the copy the linker keeps.
static inline uint16_t to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}

static inline int64_t chunk_steps(int64_t Kp) { return min_of(Kp / kTileK, kChunkSteps); }
// Weight rows per work item: a multiple of kBlock whose packed bf16 chunk fits kWeightBlockBytes
// (at least one block, at most 8).
static inline int64_t rows_per_item(int64_t Kp) {
  const int64_t blocks = kWeightBlockBytes / (kBlock * chunk_steps(Kp) * kTileK * 2);
  return kBlock * clamp_to(blocks, 1, 8);
}

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

  // Activation rows [16 t, 16 t + 16) as A tiles: [k step][16 rows][32 k] (rows past M and k past
  // K zero).
  void pack_x(uint16_t* xp, int64_t t) const {
    uint16_t* dst = xp + t * kTileRows * Kp();
    for (int j = 0; j < kTileRows; ++j) {
      const int64_t m = t * kTileRows + j;
      const float* row = x + m * ldx;
      for (int64_t s = 0; s < Kp() / kTileK; ++s) {
        uint16_t* out = dst + s * kTileValues + j * kTileK;
        const int64_t valid = m < M ? clamp_to(K() - s * kTileK, 0, kTileK) : 0;
        for (int e = 0; e < valid; ++e) out[e] = to_bf16(row[s * kTileK + e]);
        for (int e = int(valid); e < kTileK; ++e) out[e] = 0;
      }
    }
  }

  // Weight rows [n0, n0 + rows), k steps [s0, s0 + steps), as B tiles, per 16 rows:
  // [k step][16 K-pairs][16 rows][2] (rows past N and k past K zero). A K-pair is one 32-bit
  // word. Whole tiles go to Tiles::pack_b, the edges are padded here.
  void pack_w(uint16_t* wp, int64_t n0, int64_t rows, int64_t s0, int64_t steps, float* row, uint16_t* group) const {
    if (is_quantized(W.dtype)) return pack_quantized(wp, n0, rows, s0, steps, row, group);
    const auto* w = static_cast<const uint16_t*>(W.data);
    if (K() % kTileK == 0 && n0 + rows <= N()) {
      for (int64_t g = 0; g < rows / kTileRows; ++g)
        for (int64_t s = 0; s < steps; ++s)
          Tiles::pack_b(w + (n0 + g * kTileRows) * W.row_stride + (s0 + s) * kTileK, W.row_stride,
                        wp + (g * steps + s) * kTileValues);
      return;
    }
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t n = n0 + r;
      uint32_t* dst = reinterpret_cast<uint32_t*>(wp + (r / kTileRows) * steps * kTileValues) + r % kTileRows;
      const uint16_t* src = w + n * W.row_stride + s0 * kTileK;
      for (int64_t p = 0; p < steps * kTileK / 2; ++p) {
        const int64_t k = 2 * p, left = K() - s0 * kTileK;
        const uint32_t lo = n < N() && k < left ? src[k] : 0, hi = n < N() && k + 1 < left ? src[k + 1] : 0;
        dst[(p / kTileRows) * kTileValues / 2 + (p % kTileRows) * kTileRows] = lo | hi << 16;
      }
    }
  }

  // pack_w for quantized weights: 16 rows at a time dequantized (row: steps · kTileK floats) and
  // rounded into group (16 rows of steps · kTileK bf16), then packed as whole tiles.
  void pack_quantized(uint16_t* wp, int64_t n0, int64_t rows, int64_t s0, int64_t steps, float* row,
                      uint16_t* group) const {
    const int64_t width = steps * kTileK;
    for (int64_t g = 0; g < rows / kTileRows; ++g) {
      if (pack_interleaved(wp + g * steps * kTileValues, n0 + g * kTileRows, s0, steps)) continue;
      for (int q = 0; q < kTileRows; ++q) {
        const int64_t n = n0 + g * kTileRows + q;
        uint16_t* dst = group + q * width;
        if (n < N()) {
          dequantized_span(W, n, s0 * kTileK, width, row);
          Tiles::to_bf16_row(row, dst, width);
        } else {
          for (int64_t e = 0; e < width; ++e) dst[e] = 0;
        }
      }
      for (int64_t s = 0; s < steps; ++s) Tiles::pack_b(group + s * kTileK, width, wp + (g * steps + s) * kTileValues);
    }
  }

  // 16 whole rows of an interleaved type from their first group, k steps wholly inside the view:
  // each tile straight from the blocks (Tiles::pack_b_interleaved). False if not this case.
  bool pack_interleaved(uint16_t* wp, int64_t n, int64_t s0, int64_t steps) const {
    if ((W.dtype != DType::Q4_0_R4 && W.dtype != DType::Q8_0_R4) || W.row_offset != 0 || W.col_offset != 0 ||
        n + kTileRows > N() || (s0 + steps) * kTileK > K())
      return false;
    for (int64_t s = 0; s < steps; ++s) {
      const uint8_t* blocks[4];
      for (int i = 0; i < 4; ++i) blocks[i] = W.at(n + 4 * i, (s0 + s) * kTileK);
      if (!Tiles::pack_b_interleaved(W.dtype, blocks, wp + s * kTileValues)) return false;
    }
    return true;
  }

  // c[2i + j][r][q] holds y[m0 + 16i + r][n0 + 16j + q].
  void write_out(const float* c, int64_t m0, int64_t n0) const {
    for (int i = 0; i < 2; ++i)
      for (int r = 0; r < kTileRows; ++r) {
        const int64_t m = m0 + i * kTileRows + r;
        if (m >= M) return;
        for (int j = 0; j < 2; ++j) {
          const int64_t n = n0 + j * kTileRows, count = min_of(kTileRows, N() - n);
          const float* src = c + (2 * i + j) * kTileRows * kTileRows + r * kTileRows;
          float* out = y + m * ldy + n;
          if (bias && accumulate)
            for (int64_t q = 0; q < count; ++q) out[q] += src[q] + bias[n + q];
          else if (bias)
            for (int64_t q = 0; q < count; ++q) out[q] = src[q] + bias[n + q];
          else if (accumulate)
            for (int64_t q = 0; q < count; ++q) out[q] += src[q];
          else
            for (int64_t q = 0; q < count; ++q) out[q] = src[q];
        }
      }
  }

  // One work item: weight rows [n0, n0 + rows) (a multiple of kBlock) against every activation
  // row, one chunk of k at a time; sums: room for every 2 × 2 block's tiles when there are chunks.
  void item(const uint16_t* xp, int64_t n0, int64_t rows, uint16_t* wp, float* sums, float* c, float* row,
            uint16_t* group) const {
    const int64_t steps = Kp() / kTileK, x_run = steps * kTileValues, chunk = chunk_steps(Kp());
    for (int64_t s0 = 0; s0 < steps; s0 += chunk) {
      const int64_t ns = min_of(chunk, steps - s0), w_run = ns * kTileValues;
      const bool first = s0 == 0, last = s0 + ns == steps;
      pack_w(wp, n0, rows, s0, ns, row, group);
      for (int64_t m0 = 0; m0 < Mp(); m0 += kBlock)
        for (int64_t r = 0; r < rows; r += kBlock) {
          float* cc = first && last ? c : sums + ((m0 / kBlock) * (rows / kBlock) + r / kBlock) * 4 * kTileRows * kTileRows;
          const uint16_t* a = xp + (m0 / kTileRows) * x_run + s0 * kTileValues;
          const uint16_t* b = wp + (r / kTileRows) * w_run;
          Tiles::kernel_2x2(a, a + x_run, b, b + w_run, int(ns), cc, !first);
          if (last) write_out(cc, m0, n0 + r);
        }
    }
  }

  static int64_t sums_bytes(int64_t M, int64_t Kp) {
    return chunk_steps(Kp) < Kp / kTileK ? round_up(M, kBlock) * rows_per_item(Kp) * 4 : 0;
  }
  // Room to dequantize one chunk: a float row and 16 bf16 rows.
  static int64_t dequant_bytes(int64_t Kp) { return chunk_steps(Kp) * kTileK * (4 + 2 * kTileRows); }
  static int64_t per_thread_bytes(int64_t M, int64_t Kp) {
    return round_up(rows_per_item(Kp) * chunk_steps(Kp) * kTileK * 2, 64) + sums_bytes(M, Kp) +
           4 * kTileRows * kTileRows * 4 + dequant_bytes(Kp);
  }
  static size_t workspace_bytes(int64_t M, int64_t K, int n_threads) {
    const int64_t Kp = round_up(K, kTileK);
    return size_t(round_up(M, kBlock) * Kp * 2 + n_threads * round_up(per_thread_bytes(M, Kp), 64) + 3 * 64);
  }

  void run(void* workspace) const {
    auto align = [](void* p) { return reinterpret_cast<uint8_t*>(round_up(reinterpret_cast<intptr_t>(p), 64)); };
    uint16_t* xp = reinterpret_cast<uint16_t*>(align(workspace));
    uint8_t* per_thread_base = align(xp + Mp() * Kp());
    const int64_t per_thread = round_up(per_thread_bytes(M, Kp()), 64);
    const int64_t step = rows_per_item(Kp()), items = (N() + step - 1) / step;
    const int64_t w_bytes = round_up(step * chunk_steps(Kp()) * kTileK * 2, 64);
#pragma omp parallel
    {
      uint8_t* mine = per_thread_base + omp_get_thread_num() * per_thread;
      auto* wp = reinterpret_cast<uint16_t*>(mine);
      auto* sums = reinterpret_cast<float*>(mine + w_bytes);
      auto* c = reinterpret_cast<float*>(mine + w_bytes + sums_bytes(M, Kp()));
      auto* row = c + 4 * kTileRows * kTileRows;
      auto* group = reinterpret_cast<uint16_t*>(row + chunk_steps(Kp()) * kTileK);
#pragma omp for schedule(static)
      for (int64_t t = 0; t < Mp() / kTileRows; ++t) pack_x(xp, t);
      Tiles::configure();
#pragma omp for schedule(dynamic, 1)
      for (int64_t i = 0; i < items; ++i) {
        const int64_t n0 = i * step;
        item(xp, n0, round_up(min_of(N() - n0, step), kBlock), wp, sums, c, row, group);
      }
      Tiles::release();
    }
  }
};

}  // namespace adallava::amx_driver
