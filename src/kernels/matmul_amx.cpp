#include "kernels/matmul_amx.h"

#include <immintrin.h>

#include "kernels/amx_driver.h"
#include "kernels/matmul_avx512.h"

namespace adallava::amx {

namespace {

// Tiles 0-3: the four f32 accumulators; 4, 5: two activation tiles; 6, 7: two weight tiles.
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

  // AMX CPUs all have AVX-512 BF16: its row conversion (nearest even, as to_bf16).
  static void to_bf16_row(const float* in, uint16_t* out, int64_t n) { avx512::to_bf16_row(in, out, n); }

  // Four rows of one interleaved block as four tile rows of 32 bf16: (q − zero)·d rounded.
  static void dequantize_rows(DType t, const uint8_t* block, uint16_t* rows) {
    const __m128 d = _mm_cvtph_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(block)));
    alignas(16) float scale[4];
    _mm_store_ps(scale, d);
    auto store = [&](int r, __m512i lo, __m512i hi) {  // 16 + 16 integer values of row r
      const __m512 s = _mm512_set1_ps(scale[r]);
      const __m512bh v = _mm512_cvtne2ps_pbh(_mm512_mul_ps(_mm512_cvtepi32_ps(hi), s), _mm512_mul_ps(_mm512_cvtepi32_ps(lo), s));
      _mm512_storeu_si512(rows + r * amx_driver::kTileK, (__m512i)v);
    };
    if (t == DType::Q4_0_R4) {  // row r's 16 bytes at block + 8 + 16 r: low nibbles first, then high
      const __m128i low4 = _mm_set1_epi8(0x0F);
      const __m512i eight = _mm512_set1_epi32(8);
      for (int r = 0; r < 4; ++r) {
        const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block + 8 + 16 * r));
        store(r, _mm512_sub_epi32(_mm512_cvtepu8_epi32(_mm_and_si128(q, low4)), eight),
              _mm512_sub_epi32(_mm512_cvtepu8_epi32(_mm_and_si128(_mm_srli_epi16(q, 4), low4)), eight));
      }
    } else {  // Q8_0_R4: row r's 32 values at block + 8 + 32 r
      for (int r = 0; r < 4; ++r) {
        const uint8_t* q = block + 8 + 32 * r;
        store(r, _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q))),
              _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q + 16))));
      }
    }
  }

  static bool pack_b_interleaved(DType t, const uint8_t* const* blocks, uint16_t* b) {
    alignas(64) uint16_t rows[amx_driver::kTileValues];
    for (int i = 0; i < 4; ++i) dequantize_rows(t, blocks[i], rows + 4 * i * amx_driver::kTileK);
    pack_b(rows, amx_driver::kTileK, b);
    return true;
  }

  // A B tile is the 16 × 16 transpose of 16 weight rows read as K-pairs (32-bit words): four
  // rounds of AVX-512 shuffles (pairs of words, of double words, then of 128-bit lanes twice).
  static void pack_b(const uint16_t* w, int64_t w_stride, uint16_t* b) {
    __m512i r[16], t[16];
    for (int q = 0; q < 16; ++q) r[q] = _mm512_loadu_si512(w + q * w_stride);
    for (int i = 0; i < 8; ++i) {
      t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
      t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; ++i) {  // r[4i + e]: word 4L + e of rows 4i..4i+3, in each lane L
      r[4 * i] = _mm512_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
      r[4 * i + 1] = _mm512_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
      r[4 * i + 2] = _mm512_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
      r[4 * i + 3] = _mm512_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
    }
    auto* out = reinterpret_cast<__m512i*>(b);
    for (int e = 0; e < 4; ++e) {
      const __m512i v0 = _mm512_shuffle_i32x4(r[e], r[4 + e], 0x88), v1 = _mm512_shuffle_i32x4(r[e], r[4 + e], 0xdd);
      const __m512i w0 = _mm512_shuffle_i32x4(r[8 + e], r[12 + e], 0x88);
      const __m512i w1 = _mm512_shuffle_i32x4(r[8 + e], r[12 + e], 0xdd);
      _mm512_storeu_si512(out + e, _mm512_shuffle_i32x4(v0, w0, 0x88));
      _mm512_storeu_si512(out + 8 + e, _mm512_shuffle_i32x4(v0, w0, 0xdd));
      _mm512_storeu_si512(out + 4 + e, _mm512_shuffle_i32x4(v1, w1, 0x88));
      _mm512_storeu_si512(out + 12 + e, _mm512_shuffle_i32x4(v1, w1, 0xdd));
    }
  }

  static void kernel_2x2(const uint16_t* a0, const uint16_t* a1, const uint16_t* b0, const uint16_t* b1, int k_steps,
                         float* c, bool load_c) {
    constexpr int kRowBytes = 64;
    if (load_c) {
      _tile_loadd(0, c, kRowBytes);
      _tile_loadd(1, c + 256, kRowBytes);
      _tile_loadd(2, c + 512, kRowBytes);
      _tile_loadd(3, c + 768, kRowBytes);
    } else {
      _tile_zero(0);
      _tile_zero(1);
      _tile_zero(2);
      _tile_zero(3);
    }
    for (int s = 0; s < k_steps; ++s) {
      const int64_t at = int64_t(s) * amx_driver::kTileValues;
      _tile_loadd(4, a0 + at, kRowBytes);
      _tile_loadd(6, b0 + at, kRowBytes);
      _tile_loadd(7, b1 + at, kRowBytes);
      _tile_dpbf16ps(0, 4, 6);
      _tile_dpbf16ps(1, 4, 7);
      _tile_loadd(5, a1 + at, kRowBytes);
      _tile_dpbf16ps(2, 5, 6);
      _tile_dpbf16ps(3, 5, 7);
    }
    _tile_stored(0, c, kRowBytes);
    _tile_stored(1, c + 256, kRowBytes);
    _tile_stored(2, c + 512, kRowBytes);
    _tile_stored(3, c + 768, kRowBytes);
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
