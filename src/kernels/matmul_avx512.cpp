#include "kernels/matmul_avx512.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstring>

namespace adallava::avx512 {

namespace {

constexpr int kNR = 32;        // output columns per micro-tile (two zmm)
constexpr int kMR = 12;        // activation rows per micro-tile
constexpr int kKcF32 = 256;    // k-block for the f32 kernel (B panel 32 KiB)
constexpr int kKcBF16 = 512;   // k-block for the bf16 kernel (B panel 32 KiB)
constexpr int kPanelsPerBlock = 8;  // B panels packed together (256 columns)
constexpr size_t kPackBytes = size_t(kPanelsPerBlock) * kNR * kKcF32 * 4;  // same for bf16

inline int64_t round_up(int64_t a, int64_t b) { return (a + b - 1) / b * b; }

// Local on purpose: an inline helper from a shared header, compiled here with AVX-512
// enabled, could be the copy the linker keeps for the whole program.
inline int64_t elem_bytes(DType t) { return t == DType::F32 ? 4 : 2; }

inline uint16_t to_bf16_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}

inline float load_scalar(DType t, const uint8_t* p) {
  uint16_t h;
  switch (t) {
    case DType::F32: {
      float f;
      std::memcpy(&f, p, 4);
      return f;
    }
    case DType::BF16: {
      std::memcpy(&h, p, 2);
      uint32_t u = uint32_t(h) << 16;
      float f;
      std::memcpy(&f, &u, 4);
      return f;
    }
    case DType::F16:
      std::memcpy(&h, p, 2);
      return _cvtsh_ss(h);
  }
  return 0.f;
}

// 16 consecutive stored elements (or the first `n` of them) widened to f32.
template <DType T>
inline __m512 load16(const void* p, __mmask16 mask) {
  if constexpr (T == DType::F32) {
    return _mm512_maskz_loadu_ps(mask, p);
  } else if constexpr (T == DType::BF16) {
    __m256i h = _mm256_maskz_loadu_epi16(mask, p);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  } else {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask, p));
  }
}

// y[m, r] (+)= sum of the lanes of acc[m][r] (+ bias[r]) for the first `rows` weight rows.
template <int M, int R>
inline void store_row_sums(__m512 (&acc)[M][R], int rows, float* y, int64_t ldy, const float* bias, bool accumulate) {
  for (int m = 0; m < M; ++m)
    for (int r = 0; r < rows; ++r) {
      float v = _mm512_reduce_add_ps(acc[m][r]);
      if (bias) v += bias[r];
      float& out = y[m * ldy + r];
      out = accumulate ? out + v : v;
    }
}

// ---------------------------------------------------------------------------------------------
// GEMV: each weight row is read once and dotted with all M (≤ 8) activation rows. R weight rows
// are in flight: 4 for up to 4 activation rows, 2 above (M x R accumulators stay in registers).

template <DType T, int M, int R = (M <= 4 ? 4 : 2)>
void gemv_rows(float* y, int64_t ldy, const float* x, int64_t ldx, const WeightView& W, const float* bias,
               bool accumulate, int64_t n0, int64_t n1) {
  const int64_t K = W.cols;
  const int64_t es = elem_bytes(T);
  for (int64_t n = n0; n < n1; n += R) {
    const int rows = int(n1 - n < R ? n1 - n : R);
    __m512 acc[M][R];
    for (int m = 0; m < M; ++m)
      for (int r = 0; r < R; ++r) acc[m][r] = _mm512_setzero_ps();
    const uint8_t* wrow[R];
    for (int r = 0; r < R; ++r)
      wrow[r] = static_cast<const uint8_t*>(W.data) + (n + (r < rows ? r : 0)) * W.row_stride * es;
    int64_t k = 0;
    for (; k + 16 <= K; k += 16) {
      __m512 xv[M];
      for (int m = 0; m < M; ++m) xv[m] = _mm512_loadu_ps(x + m * ldx + k);
      for (int r = 0; r < R; ++r) {
        __m512 w = load16<T>(wrow[r] + k * es, 0xffff);
        for (int m = 0; m < M; ++m) acc[m][r] = _mm512_fmadd_ps(xv[m], w, acc[m][r]);
      }
    }
    if (k < K) {
      __mmask16 mask = __mmask16((1u << (K - k)) - 1);
      __m512 xv[M];
      for (int m = 0; m < M; ++m) xv[m] = _mm512_maskz_loadu_ps(mask, x + m * ldx + k);
      for (int r = 0; r < R; ++r) {
        __m512 w = load16<T>(wrow[r] + k * es, mask);
        for (int m = 0; m < M; ++m) acc[m][r] = _mm512_fmadd_ps(xv[m], w, acc[m][r]);
      }
    }
    store_row_sums<M, R>(acc, rows, y + n, ldy, bias ? bias + n : nullptr, accumulate);
  }
}

// bf16 activations (pairs along k, K padded to a multiple of 32 with zeros) times bf16 weights
// with vdpbf16ps: one instruction per 32 weights, so the loop keeps up with DRAM.
template <int M, int R = (M <= 4 ? 4 : 2)>
void gemv_rows_bf16(float* y, int64_t ldy, const uint16_t* x, int64_t ldx, const WeightView& W, const float* bias,
                    bool accumulate, int64_t n0, int64_t n1) {
  const int64_t K = W.cols;
  for (int64_t n = n0; n < n1; n += R) {
    const int rows = int(n1 - n < R ? n1 - n : R);
    __m512 acc[M][R];
    for (int m = 0; m < M; ++m)
      for (int r = 0; r < R; ++r) acc[m][r] = _mm512_setzero_ps();
    const uint16_t* wrow[R];
    for (int r = 0; r < R; ++r)
      wrow[r] = static_cast<const uint16_t*>(W.data) + (n + (r < rows ? r : 0)) * W.row_stride;
    int64_t k = 0;
    for (; k + 32 <= K; k += 32) {
      __m512bh xv[M];
      for (int m = 0; m < M; ++m) xv[m] = (__m512bh)_mm512_loadu_si512(x + m * ldx + k);
      for (int r = 0; r < R; ++r) {
        __m512bh w = (__m512bh)_mm512_loadu_si512(wrow[r] + k);
        for (int m = 0; m < M; ++m) acc[m][r] = _mm512_dpbf16_ps(acc[m][r], xv[m], w);
      }
    }
    if (k < K) {  // x is zero past K; the weights are masked so nothing is read past the row
      const __mmask32 mask = __mmask32((uint64_t(1) << (K - k)) - 1);
      __m512bh xv[M];
      for (int m = 0; m < M; ++m) xv[m] = (__m512bh)_mm512_loadu_si512(x + m * ldx + k);
      for (int r = 0; r < R; ++r) {
        __m512bh w = (__m512bh)_mm512_maskz_loadu_epi16(mask, wrow[r] + k);
        for (int m = 0; m < M; ++m) acc[m][r] = _mm512_dpbf16_ps(acc[m][r], xv[m], w);
      }
    }
    store_row_sums<M, R>(acc, rows, y + n, ldy, bias ? bias + n : nullptr, accumulate);
  }
}

template <DType T>
void gemv_dispatch_m(float* y, int64_t ldy, const float* x, int64_t ldx, int64_t M, const WeightView& W,
                     const float* bias, bool accumulate, int64_t n0, int64_t n1) {
  switch (M) {
    case 1: return gemv_rows<T, 1>(y, ldy, x, ldx, W, bias, accumulate, n0, n1);
    case 2: return gemv_rows<T, 2>(y, ldy, x, ldx, W, bias, accumulate, n0, n1);
    case 3: return gemv_rows<T, 3>(y, ldy, x, ldx, W, bias, accumulate, n0, n1);
    case 4: return gemv_rows<T, 4>(y, ldy, x, ldx, W, bias, accumulate, n0, n1);
    case 5: return gemv_rows<T, 5>(y, ldy, x, ldx, W, bias, accumulate, n0, n1);
    case 6: return gemv_rows<T, 6>(y, ldy, x, ldx, W, bias, accumulate, n0, n1);
    case 7: return gemv_rows<T, 7>(y, ldy, x, ldx, W, bias, accumulate, n0, n1);
    default: return gemv_rows<T, 8>(y, ldy, x, ldx, W, bias, accumulate, n0, n1);
  }
}

// ---------------------------------------------------------------------------------------------
// GEMM packing. f32 panels: [kc][32] floats. bf16 panels: [kc/2][32][2] bf16 (pairs along k, the
// operand layout of vdpbf16ps). Columns past N are zero.

inline float round_to_bf16(float f) {
  const uint32_t u = uint32_t(to_bf16_bits(f)) << 16;
  float r;
  std::memcpy(&r, &u, 4);
  return r;
}

// round: the weights rounded to bf16 (bf16 precision on the FMA kernel; bf16 weights are already).
void pack_panel_f32(float* dst, const WeightView& W, int64_t n0, int64_t k0, int kc, bool round) {
  const int64_t es = elem_bytes(W.dtype);
  const auto* base = static_cast<const uint8_t*>(W.data);
  const int nvalid = int(W.rows - n0 < kNR ? W.rows - n0 : kNR);
  for (int j = 0; j < kNR; ++j) {
    if (j >= nvalid) {
      for (int kk = 0; kk < kc; ++kk) dst[kk * kNR + j] = 0.f;
      continue;
    }
    const uint8_t* row = base + ((n0 + j) * W.row_stride + k0 * W.col_stride) * es;
    if (W.col_stride == 1) {
      int kk = 0;
      for (; kk + 16 <= kc; kk += 16) {
        __m512 v;
        switch (W.dtype) {
          case DType::F32: v = load16<DType::F32>(row + kk * es, 0xffff); break;
          case DType::BF16: v = load16<DType::BF16>(row + kk * es, 0xffff); break;
          default: v = load16<DType::F16>(row + kk * es, 0xffff); break;
        }
        alignas(64) float tmp[16];
        _mm512_store_ps(tmp, v);
        for (int t = 0; t < 16; ++t) dst[(kk + t) * kNR + j] = tmp[t];
      }
      for (; kk < kc; ++kk) dst[kk * kNR + j] = load_scalar(W.dtype, row + kk * es);
    } else {
      for (int kk = 0; kk < kc; ++kk) dst[kk * kNR + j] = load_scalar(W.dtype, row + kk * W.col_stride * es);
    }
    if (round && W.dtype != DType::BF16)
      for (int kk = 0; kk < kc; ++kk) dst[kk * kNR + j] = round_to_bf16(dst[kk * kNR + j]);
  }
}

void pack_panel_bf16(uint16_t* dst, const WeightView& W, int64_t n0, int64_t k0, int kc) {
  // kc is even here; k indices past W.cols are zero.
  const int64_t es = elem_bytes(W.dtype);
  const auto* base = static_cast<const uint8_t*>(W.data);
  const int nvalid = int(W.rows - n0 < kNR ? W.rows - n0 : kNR);
  const int64_t kend = W.cols - k0;  // valid k in this block: kk < kend
  for (int j = 0; j < kNR; ++j) {
    uint16_t* col = dst + 2 * j;
    if (j >= nvalid) {
      for (int kk = 0; kk < kc; kk += 2) col[kk * kNR] = col[kk * kNR + 1] = 0;
      continue;
    }
    const uint8_t* row = base + ((n0 + j) * W.row_stride + k0 * W.col_stride) * es;
    if (W.dtype == DType::BF16 && W.col_stride == 1) {
      const int full = int(kend < kc ? kend : kc) & ~1;
      uint32_t* col32 = reinterpret_cast<uint32_t*>(col);
      for (int kk = 0; kk < full; kk += 2) {
        uint32_t pair;
        std::memcpy(&pair, row + kk * 2, 4);
        col32[(kk / 2) * kNR] = pair;
      }
      for (int kk = full; kk < kc; ++kk) {
        uint16_t v = 0;
        if (kk < kend) std::memcpy(&v, row + kk * 2, 2);
        col[(kk / 2) * 2 * kNR + (kk & 1)] = v;
      }
    } else {
      for (int kk = 0; kk < kc; ++kk) {
        uint16_t v = 0;
        if (kk < kend) {
          const uint8_t* p = row + kk * W.col_stride * es;
          if (W.dtype == DType::BF16) std::memcpy(&v, p, 2);
          else v = to_bf16_bits(load_scalar(W.dtype, p));
        }
        col[(kk / 2) * 2 * kNR + (kk & 1)] = v;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Micro-kernels: C[MR, 32] (+)= A[MR, kc] · B_panel[kc, 32].

struct TileStore {
  float* c;
  int64_t ldc;
  int nvalid;          // valid columns (≤ 32)
  bool load_c;         // add to what C holds (later k-blocks, or accumulate mode)
  const float* bias;   // added on the last k-block, else null
};

template <int MR>
inline void store_tile(__m512 (&acc)[MR][2], const TileStore& s) {
  const __mmask16 m0 = s.nvalid >= 16 ? __mmask16(0xffff) : __mmask16((1u << s.nvalid) - 1);
  const __mmask16 m1 =
      s.nvalid >= 32 ? __mmask16(0xffff) : (s.nvalid <= 16 ? __mmask16(0) : __mmask16((1u << (s.nvalid - 16)) - 1));
  __m512 b0 = _mm512_setzero_ps(), b1 = _mm512_setzero_ps();
  if (s.bias) {
    b0 = _mm512_maskz_loadu_ps(m0, s.bias);
    b1 = _mm512_maskz_loadu_ps(m1, s.bias + 16);
  }
  for (int i = 0; i < MR; ++i) {
    float* c = s.c + i * s.ldc;
    __m512 v0 = _mm512_add_ps(acc[i][0], b0), v1 = _mm512_add_ps(acc[i][1], b1);
    if (s.load_c) {
      v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, c));
      v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, c + 16));
    }
    _mm512_mask_storeu_ps(c, m0, v0);
    _mm512_mask_storeu_ps(c + 16, m1, v1);
  }
}

template <int MR>
void kernel_f32(int kc, const float* a, int64_t lda, const float* b, const TileStore& s) {
  __m512 acc[MR][2];
  for (int i = 0; i < MR; ++i) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
  for (int k = 0; k < kc; ++k) {
    __m512 b0 = _mm512_load_ps(b + k * kNR), b1 = _mm512_load_ps(b + k * kNR + 16);
    for (int i = 0; i < MR; ++i) {
      __m512 av = _mm512_set1_ps(a[i * lda + k]);
      acc[i][0] = _mm512_fmadd_ps(av, b0, acc[i][0]);
      acc[i][1] = _mm512_fmadd_ps(av, b1, acc[i][1]);
    }
  }
  store_tile<MR>(acc, s);
}

template <int MR>
void kernel_bf16(int kc, const uint16_t* a, int64_t lda, const uint16_t* b, const TileStore& s) {
  __m512 acc[MR][2];
  for (int i = 0; i < MR; ++i) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
  for (int kp = 0; kp < kc / 2; ++kp) {
    __m512bh b0 = (__m512bh)_mm512_load_si512(b + kp * 2 * kNR);
    __m512bh b1 = (__m512bh)_mm512_load_si512(b + kp * 2 * kNR + kNR);
    for (int i = 0; i < MR; ++i) {
      uint32_t pair;
      std::memcpy(&pair, a + i * lda + 2 * kp, 4);
      __m512bh av = (__m512bh)_mm512_set1_epi32(int(pair));
      acc[i][0] = _mm512_dpbf16_ps(acc[i][0], av, b0);
      acc[i][1] = _mm512_dpbf16_ps(acc[i][1], av, b1);
    }
  }
  store_tile<MR>(acc, s);
}

template <typename Fn>
void with_mr(int mr, Fn&& fn) {
  switch (mr) {
    case 1: return fn(std::integral_constant<int, 1>());
    case 2: return fn(std::integral_constant<int, 2>());
    case 3: return fn(std::integral_constant<int, 3>());
    case 4: return fn(std::integral_constant<int, 4>());
    case 5: return fn(std::integral_constant<int, 5>());
    case 6: return fn(std::integral_constant<int, 6>());
    case 7: return fn(std::integral_constant<int, 7>());
    case 8: return fn(std::integral_constant<int, 8>());
    case 9: return fn(std::integral_constant<int, 9>());
    case 10: return fn(std::integral_constant<int, 10>());
    case 11: return fn(std::integral_constant<int, 11>());
    default: return fn(std::integral_constant<int, 12>());
  }
}

}  // namespace

// Rows per work item of a GEMV: about 256 KB of weights. Threads take items as they finish
// (the two vCPUs share a core and a noisy neighbour can stall one; equal halves would wait).
int64_t gemv_chunk_rows(int64_t K, size_t elt) {
  const int64_t rows = int64_t(1 << 18) / (K * int64_t(elt));
  return rows < 8 ? 8 : rows;
}

void matmul_gemv(float* y, int64_t ldy, const float* x, int64_t ldx, int64_t M, const WeightView& W,
                 const float* bias, bool accumulate, bool round_activations, void* workspace) {
  if (round_activations) {
    auto* xr = reinterpret_cast<float*>(round_up(reinterpret_cast<intptr_t>(workspace), 64));
    for (int64_t m = 0; m < M; ++m)
      for (int64_t k = 0; k < W.cols; ++k) xr[m * W.cols + k] = round_to_bf16(x[m * ldx + k]);
    x = xr;
    ldx = W.cols;
  }
  const int64_t N = W.rows, chunk = gemv_chunk_rows(W.cols, dtype_size(W.dtype));
  // Enough work per thread to pay for waking it: split only large matrices.
  const int nth = N * W.cols >= (1 << 16) ? omp_get_max_threads() : 1;
#pragma omp parallel for num_threads(nth) schedule(dynamic, 1)
  for (int64_t n0 = 0; n0 < N; n0 += chunk) {
    const int64_t n1 = n0 + chunk < N ? n0 + chunk : N;
    {
      switch (W.dtype) {
        case DType::F32: gemv_dispatch_m<DType::F32>(y, ldy, x, ldx, M, W, bias, accumulate, n0, n1); break;
        case DType::BF16: gemv_dispatch_m<DType::BF16>(y, ldy, x, ldx, M, W, bias, accumulate, n0, n1); break;
        case DType::F16: gemv_dispatch_m<DType::F16>(y, ldy, x, ldx, M, W, bias, accumulate, n0, n1); break;
      }
    }
  }
}

void matmul_gemv_bf16(float* y, int64_t ldy, const float* x, int64_t ldx, int64_t M, const WeightView& W,
                      const float* bias, bool accumulate, void* workspace) {
  const int64_t N = W.rows, K = W.cols, Kp = round_up(K, 32);
  auto* x16 = reinterpret_cast<uint16_t*>(round_up(reinterpret_cast<intptr_t>(workspace), 64));
  for (int64_t m = 0; m < M; ++m) {
    for (int64_t k = 0; k < K; ++k) x16[m * Kp + k] = to_bf16_bits(x[m * ldx + k]);
    for (int64_t k = K; k < Kp; ++k) x16[m * Kp + k] = 0;
  }
  const int nth = N * K >= (1 << 16) ? omp_get_max_threads() : 1;
  const int64_t chunk = gemv_chunk_rows(K, 2);
#pragma omp parallel for num_threads(nth) schedule(dynamic, 1)
  for (int64_t n0 = 0; n0 < N; n0 += chunk) {
    const int64_t n1 = n0 + chunk < N ? n0 + chunk : N;
    {
      switch (M) {
        case 1: gemv_rows_bf16<1>(y, ldy, x16, Kp, W, bias, accumulate, n0, n1); break;
        case 2: gemv_rows_bf16<2>(y, ldy, x16, Kp, W, bias, accumulate, n0, n1); break;
        case 3: gemv_rows_bf16<3>(y, ldy, x16, Kp, W, bias, accumulate, n0, n1); break;
        case 4: gemv_rows_bf16<4>(y, ldy, x16, Kp, W, bias, accumulate, n0, n1); break;
        case 5: gemv_rows_bf16<5>(y, ldy, x16, Kp, W, bias, accumulate, n0, n1); break;
        case 6: gemv_rows_bf16<6>(y, ldy, x16, Kp, W, bias, accumulate, n0, n1); break;
        case 7: gemv_rows_bf16<7>(y, ldy, x16, Kp, W, bias, accumulate, n0, n1); break;
        default: gemv_rows_bf16<8>(y, ldy, x16, Kp, W, bias, accumulate, n0, n1); break;
      }
    }
  }
}

size_t gemv_bf16_workspace_bytes(int64_t M, int64_t K) { return size_t(M * round_up(K, 32) * 2 + 64); }

size_t gemv_workspace_bytes(int64_t M, int64_t K) { return size_t(M * K * 4 + 64); }

size_t gemm_workspace_bytes(int64_t M, int64_t K, int n_threads) {
  // Room for the activations as bf16 pairs (vdpbf16ps) or as bf16-rounded floats (FMA).
  return size_t(round_up(M * round_up(K, 2) * 4, 64)) + size_t(n_threads) * kPackBytes + 128;
}

void matmul_gemm(float* y, int64_t ldy, const float* x, int64_t ldx, int64_t M, const WeightView& W,
                 const float* bias, Precision precision, bool dpbf16, bool accumulate, void* workspace) {
  const int64_t N = W.rows, K = W.cols;
  const bool bf16 = precision == Precision::BF16 && dpbf16;
  const bool round = precision == Precision::BF16 && !dpbf16;  // FMAs on bf16-rounded operands
  const int64_t Kp = round_up(K, 2);
  auto* ws = reinterpret_cast<uint8_t*>(round_up(reinterpret_cast<intptr_t>(workspace), 64));
  uint16_t* a16 = reinterpret_cast<uint16_t*>(ws);
  float* a32 = reinterpret_cast<float*>(ws);
  uint8_t* pack_base = ws + round_up(M * Kp * 4, 64);
  const int64_t n_panels = (N + kNR - 1) / kNR;
  const int nth = omp_get_max_threads();

#pragma omp parallel num_threads(nth)
  {
    const int tid = omp_get_thread_num(), nt = omp_get_num_threads();
    if (bf16) {  // activations rounded to bf16 once, rows split across threads
      for (int64_t m = tid; m < M; m += nt) {
        for (int64_t k = 0; k < K; ++k) a16[m * Kp + k] = to_bf16_bits(x[m * ldx + k]);
        if (Kp != K) a16[m * Kp + K] = 0;
      }
#pragma omp barrier
    } else if (round) {
      for (int64_t m = tid; m < M; m += nt)
        for (int64_t k = 0; k < K; ++k) a32[m * K + k] = round_to_bf16(x[m * ldx + k]);
#pragma omp barrier
    }
    const float* xa = round ? a32 : x;
    const int64_t lda = round ? K : ldx;
    const int64_t per = (n_panels + nt - 1) / nt;
    const int64_t p0 = tid * per, p1 = p0 + per < n_panels ? p0 + per : n_panels;
    void* pack = pack_base + size_t(tid) * kPackBytes;
    const int kc_max = bf16 ? kKcBF16 : kKcF32;
    for (int64_t pb = p0; pb < p1; pb += kPanelsPerBlock) {
      const int np = int(p1 - pb < kPanelsPerBlock ? p1 - pb : kPanelsPerBlock);
      for (int64_t k0 = 0; k0 < K; k0 += kc_max) {
        const int kc = int(K - k0 < kc_max ? K - k0 : kc_max);
        const int kc_even = (kc + 1) & ~1;
        for (int p = 0; p < np; ++p) {
          if (bf16) pack_panel_bf16(static_cast<uint16_t*>(pack) + size_t(p) * kNR * kKcBF16, W, (pb + p) * kNR, k0, kc_even);
          else pack_panel_f32(static_cast<float*>(pack) + size_t(p) * kNR * kKcF32, W, (pb + p) * kNR, k0, kc, round);
        }
        const bool first = k0 == 0, last = k0 + kc_max >= K;
        for (int64_t m0 = 0; m0 < M; m0 += kMR) {
          const int mr = int(M - m0 < kMR ? M - m0 : kMR);
          for (int p = 0; p < np; ++p) {
            const int64_t n0 = (pb + p) * kNR;
            TileStore s{y + m0 * ldy + n0, ldy, int(N - n0 < kNR ? N - n0 : kNR), !first || accumulate,
                        last && bias ? bias + n0 : nullptr};
            if (bf16) {
              const uint16_t* bp = static_cast<uint16_t*>(pack) + size_t(p) * kNR * kKcBF16;
              with_mr(mr, [&](auto MR) { kernel_bf16<MR>(kc_even, a16 + m0 * Kp + k0, Kp, bp, s); });
            } else {
              const float* bp = static_cast<float*>(pack) + size_t(p) * kNR * kKcF32;
              with_mr(mr, [&](auto MR) { kernel_f32<MR>(kc, xa + m0 * lda + k0, lda, bp, s); });
            }
          }
        }
      }
    }
  }
}

namespace {

constexpr int kProbeChains = 12;  // independent accumulators: enough to hide either latency

template <class Acc, class Step>
void run_chains(long iters, Step step) {
  Acc acc[kProbeChains];
  for (int i = 0; i < kProbeChains; ++i) acc[i] = _mm512_set1_ps(float(i));
  for (long it = 0; it < iters; ++it)
    for (int i = 0; i < kProbeChains; ++i) acc[i] = step(acc[i]);
  __m512 sum = acc[0];
  for (int i = 1; i < kProbeChains; ++i) sum = _mm512_add_ps(sum, acc[i]);
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, sum);
  volatile float sink = lanes[0];  // keeps the chains alive
  (void)sink;
}

double seconds_of(void (*fn)(long), long iters) {
  const auto t0 = std::chrono::steady_clock::now();
  fn(iters);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void dpbf16_chains(long iters) {
  const __m512bh a = (__m512bh)_mm512_set1_epi16(0x3f80), b = (__m512bh)_mm512_set1_epi16(0x3380);
  run_chains<__m512>(iters, [&](__m512 c) { return _mm512_dpbf16_ps(c, a, b); });
}

void fma_chains_void(long iters) { fma_chains(iters); }

}  // namespace

double fma_chains(long iters) {
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  run_chains<__m512>(iters, [&](__m512 c) { return _mm512_fmadd_ps(c, a, b); });
  return 2.0 * 16 * kProbeChains * double(iters);
}

double dpbf16_flops_over_fma() {
  constexpr long kIters = 1 << 15;  // a few milliseconds in all
  double fma = 1e30, dp = 1e30;
  for (int round = 0; round < 5; ++round) {  // interleaved, best of each: a busy spell hits both
    fma = std::min(fma, seconds_of(fma_chains_void, kIters));
    dp = std::min(dp, seconds_of(dpbf16_chains, kIters));
  }
  return 2.0 * fma / dp;  // vdpbf16ps does twice an FMA's flops
}

void to_bf16_row(const float* in, uint16_t* out, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(in + i)));
  for (; i < n; ++i) out[i] = to_bf16_bits(in[i]);
}

}  // namespace adallava::avx512
