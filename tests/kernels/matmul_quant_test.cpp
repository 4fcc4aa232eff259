// Products with quantized weights under every kernel set: exact (f32) products against the
// reference on the dequantized matrix, for whole matrices and for the row and column blocks
// that skipped heads and neuron groups cut (a column block may start inside a quantization
// block); bf16 and 8-bit products within their rounding.
#include "kernels/matmul_quant.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstring>
#include <random>

#include "kernels/cpu_features.h"
#include "kernels/matmul_amx.h"
#include "tensor/quant.h"
#include "test_util.h"

namespace adallava {
namespace {

// Random stored blocks: quantized from floats where we quantize, else random bytes with small
// finite scales.
std::vector<uint8_t> random_blocks(DType t, int64_t rows, int64_t cols, std::mt19937& rng) {
  std::vector<uint8_t> w(row_bytes(t, cols) * size_t(rows));
  if (t == DType::Q8_0 || t == DType::Q4_0) {
    std::normal_distribution<float> d(0.f, 1.f);
    std::vector<float> f(static_cast<size_t>(rows * cols));
    for (float& v : f) v = d(rng);
    quantize(t, f.data(), w.data(), rows * cols);
    return w;
  }
  for (auto& b : w) b = uint8_t(rng());
  const uint16_t d = f32_to_f16(0.02f), dmin = f32_to_f16(0.03f);
  for (size_t off = 0; off < w.size(); off += block_bytes(t)) {
    if (t == DType::Q6_K) std::memcpy(&w[off + 208], &d, 2);
    else if (t == DType::Q4_K) std::memcpy(&w[off], &d, 2), std::memcpy(&w[off + 2], &dmin, 2);
    else std::memcpy(&w[off], &d, 2);
  }
  return w;
}

double worst_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double w = 0;
  for (size_t i = 0; i < a.size(); ++i) w = std::max(w, std::fabs(double(a[i]) - double(b[i])));
  return w;
}

void check(const WeightView& W, int64_t M, Precision p, std::mt19937& rng, const std::string& what) {
  std::normal_distribution<float> d(0.f, 1.f);
  const int64_t K = W.cols, N = W.rows, ldx = K + 1, ldy = N + 2;
  std::vector<float> x(size_t(M * ldx)), bias(static_cast<size_t>(N)), y(size_t(M * ldy), 0.5f);
  for (float& v : x) v = d(rng);
  for (float& v : bias) v = d(rng);
  std::vector<float> ref = y;
  matmul_reference(ref.data(), ldy, x.data(), ldx, M, W, bias.data(), Precision::F32, /*accumulate=*/true);
  matmul(y.data(), ldy, x.data(), ldx, M, W, bias.data(), p, /*accumulate=*/true);
  double scale = 0;
  for (float v : ref) scale = std::max(scale, std::fabs(double(v)));
  // f32: accumulation order only; bf16: both operands rounded (2^-9 each); q8: activations to
  // 8 bits (2^-8 of each block's largest) — relative to the largest output, over sqrt(K) terms.
  const double rel = p == Precision::F32 ? 1e-6 : p == Precision::BF16 ? 1e-2 : 2e-2;
  EXPECT_LE(worst_diff(y, ref), rel * scale + 1e-5) << what << " M=" << M;
}

TEST(MatmulQuant, EveryTypeShapeAndBlockUnderEveryKernelSet) {
  std::mt19937 rng(5);
  for (KernelSet k : cpu_kernel_sets()) {
    test::ScopedKernelSet forced(k);
    for (DType t : {DType::Q8_0, DType::Q4_0, DType::Q5_0, DType::Q4_K, DType::Q6_K}) {
      const int64_t N = 37, K = 512;
      const std::vector<uint8_t> w = random_blocks(t, N, K, rng);
      const WeightView W = WeightView::dense(t, w.data(), N, K);
      const std::string name = std::string(dtype_name(t)) + " on " + kernel_set_name(k);
      for (Precision p : {Precision::F32, Precision::BF16, Precision::Q8})
        for (int64_t M : {1, 3, 6, 9, 40}) check(W, M, p, rng, name);
      // A skipped head's rows and a column block starting mid-block (an H plan's slices).
      for (Precision p : {Precision::F32, Precision::Q8}) {
        check(W.row_block(5, 20), 2, p, rng, name + " rows 5..25");
        check(W.col_block(16, 48), 2, p, rng, name + " cols 16..64");
        check(W.col_block(256, 256), 1, p, rng, name + " cols 256..512");
        check(W.col_block(96, 320).col_block(40, 100), 7, p, rng, name + " cols 136..236");
      }
    }
  }
}

// The interleaved layouts give the products of the plain ones, through every view a plan cuts
// (row blocks starting inside a group of four included).
TEST(MatmulQuant, InterleavedRowsUnderEveryKernelSet) {
  std::mt19937 rng(9);
  for (KernelSet k : cpu_kernel_sets()) {
    test::ScopedKernelSet forced(k);
    for (DType t : {DType::Q8_0, DType::Q4_0}) {
      const int64_t N = 40, K = 320;
      const std::vector<uint8_t> plain = random_blocks(t, N, K, rng);
      std::vector<uint8_t> inter(plain.size());
      interleave_rows(t, plain.data(), inter.data(), N, K);
      const WeightView W = WeightView::dense(interleaved_type(t), inter.data(), N, K);
      const std::string name = std::string(dtype_name(W.dtype)) + " on " + kernel_set_name(k);
      for (Precision p : {Precision::F32, Precision::Q8})
        for (int64_t M : {1, 4, 6, 19}) {
          check(W, M, p, rng, name);
          check(W.row_block(5, 22), M, p, rng, name + " rows 5..27");
          check(W.row_block(8, 16).col_block(40, 200), M, p, rng, name + " rows 8..24 cols 40..240");
          check(W.row_block(3, 30).row_block(2, 9), M, p, rng, name + " rows 5..14");
        }
      // Same bits as the plain layout: the exact products agree exactly.
      std::vector<float> a(static_cast<size_t>(N * K)), b(static_cast<size_t>(N * K));
      for (int64_t r = 0; r < N; ++r) {
        weight_row(W, r, a.data() + r * K);
        weight_row(WeightView::dense(t, plain.data(), N, K), r, b.data() + r * K);
      }
      EXPECT_EQ(a, b) << name;
    }
  }
}

// Where Q8_0 has its 8-bit GEMM (VNNI), a row of a many-row product is the one-row product bit
// for bit: a request batched with others (or in a prompt) computes what it computes alone.
TEST(MatmulQuant, Q8_0RowsOfAManyRowProductEqualOneRowProducts) {
  if (active_kernels().gemv_quant < KernelSet::Avx512)
    GTEST_SKIP() << "the kernel set in use has no AVX-512 VNNI: Q8_0 has no 8-bit GEMM there";
  std::mt19937 rng(11);
  const int64_t N = 40, K = 320, M = 19;
  const std::vector<uint8_t> plain = random_blocks(DType::Q8_0, N, K, rng);
  std::vector<uint8_t> inter(plain.size());
  interleave_rows(DType::Q8_0, plain.data(), inter.data(), N, K);
  const WeightView all = WeightView::dense(DType::Q8_0_R4, inter.data(), N, K);
  std::normal_distribution<float> dist(0.f, 1.f);
  for (const WeightView& W : {all, all.row_block(5, 22), all.row_block(8, 16).col_block(40, 200)}) {
    std::vector<float> x(static_cast<size_t>(M * W.cols)), many(static_cast<size_t>(M * W.rows));
    for (float& v : x) v = dist(rng);
    matmul(many.data(), W.rows, x.data(), W.cols, M, W, nullptr, Precision::Q8);
    for (int64_t m = 0; m < M; ++m) {
      std::vector<float> one(static_cast<size_t>(W.rows));
      matmul(one.data(), W.rows, x.data() + m * W.cols, W.cols, 1, W, nullptr, Precision::Q8);
      EXPECT_EQ(one, std::vector<float>(many.begin() + m * W.rows, many.begin() + (m + 1) * W.rows)) << "row " << m;
    }
  }
}

// AMX tiles dequantize quantized weights as they pack them: the product equals, bit for bit,
// the same driver's product with the dequantized matrix rounded to bf16, for every type, views
// that start inside a block or a group of four, rows in several chunks of k, and partial tiles;
// on emulated tiles everywhere and on the hardware's where the CPU has them.
TEST(MatmulQuant, AmxTilesDequantizeAsTheyPack) {
  std::mt19937 rng(13);
  std::normal_distribution<float> dist(0.f, 1.f);
  for (DType t : {DType::Q8_0, DType::Q4_0, DType::Q5_0, DType::Q4_K, DType::Q6_K, DType::Q4_0_R4, DType::Q8_0_R4}) {
    const int64_t N = 72, K = 4352;  // K: three chunks of k; 4352 = 17 super-blocks
    const DType plain = plain_type(t);
    std::vector<uint8_t> w = random_blocks(plain, N, K, rng);
    if (t != plain) {
      std::vector<uint8_t> inter(w.size());
      interleave_rows(plain, w.data(), inter.data(), N, K);
      w = inter;
    }
    const WeightView all = WeightView::dense(t, w.data(), N, K);
    for (const WeightView& W : {all, all.row_block(5, 50).col_block(100, 4100), all.col_block(256, 2100)}) {
      const int64_t M = 37;
      std::vector<uint16_t> dense(size_t(W.rows * W.cols));
      std::vector<float> row(static_cast<size_t>(W.cols));
      for (int64_t r = 0; r < W.rows; ++r) {
        weight_row(W, r, row.data());
        for (int64_t c = 0; c < W.cols; ++c) dense[size_t(r * W.cols + c)] = f32_to_bf16(row[size_t(c)]);
      }
      const WeightView bf16 = WeightView::dense(DType::BF16, dense.data(), W.rows, W.cols);
      std::vector<float> x(size_t(M * W.cols)), bias(size_t(W.rows));
      for (float& v : x) v = dist(rng);
      for (float& v : bias) v = dist(rng);
      std::vector<uint8_t> ws(amx::gemm_workspace_bytes(M, W.cols, omp_get_max_threads()));
      std::vector<float> want(size_t(M * W.rows)), got(want.size());
      const std::string what = std::string(dtype_name(t)) + " rows=" + std::to_string(W.rows) +
                               " cols=" + std::to_string(W.cols);
      amx::matmul_gemm_bf16_emulated(want.data(), W.rows, x.data(), W.cols, M, bf16, bias.data(), false, ws.data());
      amx::matmul_gemm_bf16_emulated(got.data(), W.rows, x.data(), W.cols, M, W, bias.data(), false, ws.data());
      EXPECT_EQ(got, want) << "amx-emulated " << what;
      if (!cpu_features().amx_bf16) continue;
      amx::matmul_gemm_bf16(want.data(), W.rows, x.data(), W.cols, M, bf16, bias.data(), false, ws.data());
      amx::matmul_gemm_bf16(got.data(), W.rows, x.data(), W.cols, M, W, bias.data(), false, ws.data());
      EXPECT_EQ(got, want) << "amx " << what;
    }
  }
}

}  // namespace
}  // namespace adallava
