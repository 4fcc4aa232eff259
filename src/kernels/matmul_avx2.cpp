#include "kernels/matmul_avx2.h"

#include <immintrin.h>
#include <omp.h>

#include <cstring>

namespace adallava::avx2 {

namespace {

constexpr int kNR = 16;             // output columns per micro-tile (two ymm)
constexpr int kMR = 6;              // activation rows per micro-tile: 12 accumulators, 2 B loads, 1 broadcast
constexpr int kKc = 256;            // k-block (B panel 16 KiB)
constexpr int kPanelsPerBlock = 8;  // B panels packed together (128 columns, 128 KiB)
constexpr size_t kPackBytes = size_t(kPanelsPerBlock) * kNR * kKc * 4;

inline int64_t round_up(int64_t a, int64_t b) { return (a + b - 1) / b * b; }

// Local on purpose: an inline helper from a shared header, compiled here with AVX2 enabled,
// could be the copy the linker keeps for the whole program.
inline int64_t elem_bytes(DType t) { return t == DType::F32 ? 4 : 2; }

// f rounded to the nearest bf16 (ties to even), as an f32; NaN stays NaN.
inline float round_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) {
    u |= 0x00400000u;
  } else {
    u += 0x7fffu + ((u >> 16) & 1u);
  }
  u &= 0xffff0000u;
  std::memcpy(&f, &u, 4);
  return f;
}

inline float load_scalar(DType t, const uint8_t* p) {
  uint16_t h;
  uint32_t u;
  float f;
  switch (t) {
    case DType::F32:
      std::memcpy(&f, p, 4);
      return f;
    case DType::BF16:
      std::memcpy(&h, p, 2);
      u = uint32_t(h) << 16;
      std::memcpy(&f, &u, 4);
      return f;
    case DType::F16:
      std::memcpy(&h, p, 2);
      return _cvtsh_ss(h);
  }
  return 0.f;
}

// 8 consecutive stored elements widened to f32.
template <DType T>
inline __m256 load8(const void* p) {
  if constexpr (T == DType::F32) {
    return _mm256_loadu_ps(static_cast<const float*>(p));
  } else if constexpr (T == DType::BF16) {
    const __m128i h = _mm_loadu_si128(static_cast<const __m128i*>(p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  } else {
    return _mm256_cvtph_ps(_mm_loadu_si128(static_cast<const __m128i*>(p)));
  }
}

inline __m256 load8(DType t, const uint8_t* p) {
  switch (t) {
    case DType::F32: return load8<DType::F32>(p);
    case DType::BF16: return load8<DType::BF16>(p);
    default: return load8<DType::F16>(p);
  }
}

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Lanes below n set (n clamped to [0, 8]): the mask of a partial load or store.
inline __m256i lane_mask(int n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// ---------------------------------------------------------------------------------------------
// GEMV: each weight row is read once and dotted with all M (≤ 4) activation rows; R weight rows
// in flight (M · R accumulators, at most 8 so that the loads fit the 16 registers).

template <DType T, int M, int R>
void gemv_rows(float* y, int64_t ldy, const float* x, int64_t ldx, const WeightView& W, const float* bias,
               bool accumulate, int64_t n0, int64_t n1) {
  const int64_t K = W.cols;
  const int64_t es = elem_bytes(T);
  for (int64_t n = n0; n < n1; n += R) {
    const int rows = int(n1 - n < R ? n1 - n : R);
    __m256 acc[M][R];
    for (int m = 0; m < M; ++m)
      for (int r = 0; r < R; ++r) acc[m][r] = _mm256_setzero_ps();
    const uint8_t* wrow[R];
    for (int r = 0; r < R; ++r)
      wrow[r] = static_cast<const uint8_t*>(W.data) + (n + (r < rows ? r : 0)) * W.row_stride * es;
    int64_t k = 0;
    for (; k + 8 <= K; k += 8) {
      __m256 xv[M];
      for (int m = 0; m < M; ++m) xv[m] = _mm256_loadu_ps(x + m * ldx + k);
      for (int r = 0; r < R; ++r) {
        const __m256 w = load8<T>(wrow[r] + k * es);
        for (int m = 0; m < M; ++m) acc[m][r] = _mm256_fmadd_ps(xv[m], w, acc[m][r]);
      }
    }
    for (int m = 0; m < M; ++m)
      for (int r = 0; r < rows; ++r) {
        float v = hsum(acc[m][r]);
        for (int64_t kk = k; kk < K; ++kk) v += x[m * ldx + kk] * load_scalar(T, wrow[r] + kk * es);
        if (bias) v += bias[n + r];
        float& out = y[m * ldy + n + r];
        out = accumulate ? out + v : v;
      }
  }
}

template <DType T>
void gemv_dispatch_m(float* y, int64_t ldy, const float* x, int64_t ldx, int64_t M, const WeightView& W,
                     const float* bias, bool accumulate, int64_t n0, int64_t n1) {
  switch (M) {
    case 1: return gemv_rows<T, 1, 4>(y, ldy, x, ldx, W, bias, accumulate, n0, n1);
    case 2: return gemv_rows<T, 2, 4>(y, ldy, x, ldx, W, bias, accumulate, n0, n1);
    case 3: return gemv_rows<T, 3, 2>(y, ldy, x, ldx, W, bias, accumulate, n0, n1);
    default: return gemv_rows<T, 4, 2>(y, ldy, x, ldx, W, bias, accumulate, n0, n1);
  }
}

// Rows per work item of a GEMV: about 256 KB of weights. Threads take items as they finish
// (the two vCPUs may share a core and a noisy neighbour can stall one; equal halves would wait).
int64_t gemv_chunk_rows(int64_t K, int64_t elt) {
  const int64_t rows = int64_t(1 << 18) / (K * elt);
  return rows < 8 ? 8 : rows;
}

// ---------------------------------------------------------------------------------------------
// GEMM packing: panels of [kc][16] floats, columns past N zero; with round_weights every value
// is rounded to bf16 (bf16 precision over f32 or f16 weights).

void pack_panel(float* dst, const WeightView& W, int64_t n0, int64_t k0, int kc, bool round_weights) {
  const int64_t es = elem_bytes(W.dtype);
  const auto* base = static_cast<const uint8_t*>(W.data);
  const int nvalid = int(W.rows - n0 < kNR ? W.rows - n0 : kNR);
  if (W.row_stride == 1 && nvalid == kNR) {  // a transposed view: the 16 columns of a k are adjacent
    for (int kk = 0; kk < kc; ++kk) {
      const uint8_t* p = base + (n0 + (k0 + kk) * W.col_stride) * es;
      __m256 v0 = load8(W.dtype, p), v1 = load8(W.dtype, p + 8 * es);
      _mm256_store_ps(dst + kk * kNR, v0);
      _mm256_store_ps(dst + kk * kNR + 8, v1);
    }
  } else {
    for (int j = 0; j < kNR; ++j) {
      if (j >= nvalid) {
        for (int kk = 0; kk < kc; ++kk) dst[kk * kNR + j] = 0.f;
        continue;
      }
      const uint8_t* row = base + ((n0 + j) * W.row_stride + k0 * W.col_stride) * es;
      if (W.col_stride == 1) {
        int kk = 0;
        for (; kk + 8 <= kc; kk += 8) {
          alignas(32) float tmp[8];
          _mm256_store_ps(tmp, load8(W.dtype, row + kk * es));
          for (int t = 0; t < 8; ++t) dst[(kk + t) * kNR + j] = tmp[t];
        }
        for (; kk < kc; ++kk) dst[kk * kNR + j] = load_scalar(W.dtype, row + kk * es);
      } else {
        for (int kk = 0; kk < kc; ++kk) dst[kk * kNR + j] = load_scalar(W.dtype, row + kk * W.col_stride * es);
      }
    }
  }
  if (round_weights)
    for (int i = 0; i < kc * kNR; ++i) dst[i] = round_bf16(dst[i]);
}

// ---------------------------------------------------------------------------------------------
// Micro-kernel: C[MR, 16] (+)= A[MR, kc] · B_panel[kc, 16].

struct TileStore {
  float* c;
  int64_t ldc;
  int nvalid;         // valid columns (≤ 16)
  bool load_c;        // add to what C holds (later k-blocks, or accumulate mode)
  const float* bias;  // added on the last k-block, else null
};

template <int MR>
void kernel(int kc, const float* a, int64_t lda, const float* b, const TileStore& s) {
  __m256 acc[MR][2];
  for (int i = 0; i < MR; ++i) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
  for (int k = 0; k < kc; ++k) {
    const __m256 b0 = _mm256_load_ps(b + k * kNR), b1 = _mm256_load_ps(b + k * kNR + 8);
    for (int i = 0; i < MR; ++i) {
      const __m256 av = _mm256_broadcast_ss(a + i * lda + k);
      acc[i][0] = _mm256_fmadd_ps(av, b0, acc[i][0]);
      acc[i][1] = _mm256_fmadd_ps(av, b1, acc[i][1]);
    }
  }
  const __m256i m0 = lane_mask(s.nvalid), m1 = lane_mask(s.nvalid - 8);
  __m256 bias0 = _mm256_setzero_ps(), bias1 = _mm256_setzero_ps();
  if (s.bias) {
    bias0 = _mm256_maskload_ps(s.bias, m0);
    bias1 = _mm256_maskload_ps(s.bias + 8, m1);
  }
  for (int i = 0; i < MR; ++i) {
    float* c = s.c + i * s.ldc;
    __m256 v0 = _mm256_add_ps(acc[i][0], bias0), v1 = _mm256_add_ps(acc[i][1], bias1);
    if (s.load_c) {
      v0 = _mm256_add_ps(v0, _mm256_maskload_ps(c, m0));
      v1 = _mm256_add_ps(v1, _mm256_maskload_ps(c + 8, m1));
    }
    _mm256_maskstore_ps(c, m0, v0);
    _mm256_maskstore_ps(c + 8, m1, v1);
  }
}

void run_kernel(int mr, int kc, const float* a, int64_t lda, const float* b, const TileStore& s) {
  switch (mr) {
    case 1: return kernel<1>(kc, a, lda, b, s);
    case 2: return kernel<2>(kc, a, lda, b, s);
    case 3: return kernel<3>(kc, a, lda, b, s);
    case 4: return kernel<4>(kc, a, lda, b, s);
    case 5: return kernel<5>(kc, a, lda, b, s);
    default: return kernel<6>(kc, a, lda, b, s);
  }
}

// The rows of x rounded to bf16 into dst (rows K apart), row m by thread m mod nt.
void round_rows(float* dst, const float* x, int64_t ldx, int64_t M, int64_t K, int tid, int nt) {
  for (int64_t m = tid; m < M; m += nt)
    for (int64_t k = 0; k < K; ++k) dst[m * K + k] = round_bf16(x[m * ldx + k]);
}

}  // namespace

size_t gemv_workspace_bytes(int64_t M, int64_t K) { return size_t(M * K) * 4; }

void matmul_gemv(float* y, int64_t ldy, const float* x, int64_t ldx, int64_t M, const WeightView& W,
                 const float* bias, bool accumulate, bool round_activations, void* workspace) {
  const int64_t N = W.rows, K = W.cols;
  if (round_activations) {
    auto* xr = static_cast<float*>(workspace);
    round_rows(xr, x, ldx, M, K, 0, 1);
    x = xr;
    ldx = K;
  }
  const int64_t chunk = gemv_chunk_rows(K, elem_bytes(W.dtype));
  // Enough work per thread to pay for waking it: split only large matrices.
  const int nth = N * K >= (1 << 16) ? omp_get_max_threads() : 1;
#pragma omp parallel for num_threads(nth) schedule(dynamic, 1)
  for (int64_t n0 = 0; n0 < N; n0 += chunk) {
    const int64_t n1 = n0 + chunk < N ? n0 + chunk : N;
    switch (W.dtype) {
      case DType::F32: gemv_dispatch_m<DType::F32>(y, ldy, x, ldx, M, W, bias, accumulate, n0, n1); break;
      case DType::BF16: gemv_dispatch_m<DType::BF16>(y, ldy, x, ldx, M, W, bias, accumulate, n0, n1); break;
      case DType::F16: gemv_dispatch_m<DType::F16>(y, ldy, x, ldx, M, W, bias, accumulate, n0, n1); break;
    }
  }
}

// A bf16 product keeps its rounded activations first, then each thread's packed panels.
size_t gemm_workspace_bytes(int64_t M, int64_t K, bool bf16, int n_threads) {
  return size_t(bf16 ? round_up(M * K * 4, 64) : 0) + size_t(n_threads) * kPackBytes + 64;
}

void matmul_gemm(float* y, int64_t ldy, const float* x, int64_t ldx, int64_t M, const WeightView& W,
                 const float* bias, Precision precision, bool accumulate, void* workspace) {
  const int64_t N = W.rows, K = W.cols;
  const bool bf16 = precision == Precision::BF16;
  const bool round_weights = bf16 && W.dtype != DType::BF16;  // bf16 weights are bf16 already
  auto* ws = reinterpret_cast<uint8_t*>(round_up(reinterpret_cast<intptr_t>(workspace), 64));
  auto* x_rounded = reinterpret_cast<float*>(ws);
  uint8_t* pack_base = ws + (bf16 ? round_up(M * K * 4, 64) : 0);
  const float* a = bf16 ? x_rounded : x;
  const int64_t lda = bf16 ? K : ldx;
  const int64_t n_panels = (N + kNR - 1) / kNR;
  const int nth = omp_get_max_threads();

#pragma omp parallel num_threads(nth)
  {
    const int tid = omp_get_thread_num(), nt = omp_get_num_threads();
    if (bf16) {
      round_rows(x_rounded, x, ldx, M, K, tid, nt);
#pragma omp barrier
    }
    // Each thread owns a contiguous range of panels, so C tiles are never shared.
    const int64_t per = (n_panels + nt - 1) / nt;
    const int64_t p0 = tid * per, p1 = p0 + per < n_panels ? p0 + per : n_panels;
    float* pack = reinterpret_cast<float*>(pack_base + size_t(tid) * kPackBytes);
    for (int64_t pb = p0; pb < p1; pb += kPanelsPerBlock) {
      const int np = int(p1 - pb < kPanelsPerBlock ? p1 - pb : kPanelsPerBlock);
      for (int64_t k0 = 0; k0 < K; k0 += kKc) {
        const int kc = int(K - k0 < kKc ? K - k0 : kKc);
        for (int p = 0; p < np; ++p) pack_panel(pack + size_t(p) * kNR * kKc, W, (pb + p) * kNR, k0, kc, round_weights);
        const bool first = k0 == 0, last = k0 + kKc >= K;
        for (int64_t m0 = 0; m0 < M; m0 += kMR) {
          const int mr = int(M - m0 < kMR ? M - m0 : kMR);
          for (int p = 0; p < np; ++p) {
            const int64_t n0 = (pb + p) * kNR;
            const TileStore s{y + m0 * ldy + n0, ldy, int(N - n0 < kNR ? N - n0 : kNR), !first || accumulate,
                              last && bias ? bias + n0 : nullptr};
            run_kernel(mr, kc, a + m0 * lda + k0, lda, pack + size_t(p) * kNR * kKc, s);
          }
        }
      }
    }
  }
}

}  // namespace adallava::avx2
