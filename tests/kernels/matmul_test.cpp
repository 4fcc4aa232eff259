// Every kernel set this CPU runs (portable, AVX2, AVX-512, AVX-512-BF16, AMX; GEMV and packed
// GEMM, f32 and bf16 precision) against the reference, on random shapes with odd sizes, every
// weight dtype, strided views and accumulation; the AMX driver on emulated tiles everywhere; and
// the choice of kernel per operation.
#include "kernels/matmul.h"

#include <gtest/gtest.h>

#include <omp.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/cpu_features.h"
#include "kernels/matmul_amx.h"
#include "tensor/dtype.h"
#include "test_util.h"

namespace adallava {
namespace {

struct StoredMatrix {
  DType dtype;
  std::vector<float> f32;
  std::vector<uint16_t> half;
  const void* data() const { return dtype == DType::F32 ? static_cast<const void*>(f32.data()) : half.data(); }
};

StoredMatrix random_matrix(DType t, int64_t n, std::mt19937& rng) {
  std::normal_distribution<float> dist(0.f, 1.f);
  StoredMatrix m{t, {}, {}};
  for (int64_t i = 0; i < n; ++i) {
    float v = dist(rng);
    if (t == DType::F32) m.f32.push_back(v);
    else m.half.push_back(t == DType::BF16 ? f32_to_bf16(v) : f32_to_f16(v));
  }
  return m;
}

// |got - ref| ≤ tol · sqrt(K) scaled by the magnitudes involved.
void expect_close(const std::vector<float>& got, const std::vector<float>& ref, int64_t K, Precision p,
                  const std::string& what) {
  const double tol = (p == Precision::BF16 ? 2e-5 : 2e-6) * std::sqrt(double(K)) + 1e-6;
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::fabs(double(got[i]) - double(ref[i])));
  EXPECT_LE(worst, tol * 4) << what;
}

void check_case(int64_t M, int64_t N, int64_t K, DType t, Precision p, bool with_bias, bool accumulate,
                bool transposed, std::mt19937& rng) {
  StoredMatrix w = random_matrix(t, N * K, rng);
  // transposed: store [K, N] and view it as Wᵀ, the layout attention uses for V.
  WeightView view = transposed ? WeightView::dense(t, w.data(), K, N).transposed() : WeightView::dense(t, w.data(), N, K);
  std::normal_distribution<float> dist(0.f, 1.f);
  const int64_t ldx = K + 3, ldy = N + 5;  // padded rows: strides must be honoured
  std::vector<float> x(size_t(M * ldx)), bias(static_cast<size_t>(N)), y0(size_t(M * ldy));
  for (auto& v : x) v = dist(rng);
  for (auto& v : bias) v = dist(rng);
  for (auto& v : y0) v = dist(rng);
  std::vector<float> ref = y0;
  const float* b = with_bias ? bias.data() : nullptr;
  matmul_reference(ref.data(), ldy, x.data(), ldx, M, view, b, p, accumulate);
  const std::string what = "M=" + std::to_string(M) + " N=" + std::to_string(N) + " K=" + std::to_string(K) +
                           " dtype=" + dtype_name(t) + (p == Precision::BF16 ? " bf16" : " f32") +
                           (accumulate ? " acc" : "") + (transposed ? " transposed" : "");
  auto check = [&](const std::vector<float>& got, const std::string& kernels) {
    expect_close(got, ref, K, p, kernels + " " + what);
    // Padding between rows is never written.
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = N; n < ldy; ++n) ASSERT_EQ(got[size_t(m * ldy + n)], y0[size_t(m * ldy + n)]) << kernels << " " << what;
  };
  for (KernelSet k : cpu_kernel_sets()) {
    std::vector<float> got = y0;
    {
      test::ScopedKernelSet forced(k);
      matmul(got.data(), ldy, x.data(), ldx, M, view, b, p, accumulate);
    }
    check(got, kernel_set_name(k));
  }
  if (p == Precision::BF16 && t == DType::BF16 && !transposed) {  // what the AMX path takes
    std::vector<float> got = y0;
    std::vector<uint8_t> ws(amx::gemm_workspace_bytes(M, K, omp_get_max_threads()));
    amx::matmul_gemm_bf16_emulated(got.data(), ldy, x.data(), ldx, M, view, b, accumulate, ws.data());
    check(got, "amx-emulated");
  }
}

TEST(Matmul, FastPathsMatchReferenceOnRandomShapes) {
  std::mt19937 rng(1234);
  const int64_t shapes[][3] = {{1, 1, 1},   {1, 17, 33},  {2, 64, 64},   {3, 45, 130}, {4, 100, 257},
                               {5, 33, 15}, {12, 32, 64}, {13, 31, 513}, {27, 320, 64}, {40, 70, 1030},
                               {7, 1, 300}, {1, 300, 7},  {25, 96, 1},  {6, 50, 70},  {8, 129, 260}};
  for (auto& s : shapes)
    for (DType t : {DType::F32, DType::BF16, DType::F16})
      for (Precision p : {Precision::F32, Precision::BF16}) {
        check_case(s[0], s[1], s[2], t, p, true, false, false, rng);
        check_case(s[0], s[1], s[2], t, p, false, true, false, rng);
      }
}

TEST(Matmul, TransposedViewsAsAttentionUsesThem) {
  std::mt19937 rng(99);
  for (auto [M, N, K] : {std::tuple<int64_t, int64_t, int64_t>{1, 16, 27}, {9, 16, 27}, {30, 128, 61}, {17, 37, 300}})
    for (DType t : {DType::F32, DType::BF16})
      for (Precision p : {Precision::F32, Precision::BF16}) check_case(M, N, K, t, p, true, true, true, rng);
}

// Weight blocks larger than one work item, rows that leave a partial tile, and a row stride
// wider than the row (a view into a larger matrix): the AMX driver's blocking and edges, on
// emulated tiles everywhere and on the hardware's where the CPU has them.
TEST(Matmul, AmxDriverOnLargeBlocks) {
  std::mt19937 rng(7);
  for (auto [M, N, K, stride] : {std::tuple<int64_t, int64_t, int64_t, int64_t>{33, 300, 64, 64}, {17, 70, 96, 160},
                                 {40, 129, 4160, 4160}, {5, 48, 40, 48}, {577, 96, 1024, 1056}, {64, 512, 4096, 4096}}) {
    StoredMatrix w = random_matrix(DType::BF16, N * stride, rng);
    const WeightView view{DType::BF16, w.data(), N, K, stride, 1};
    std::normal_distribution<float> dist(0.f, 1.f);
    std::vector<float> x(static_cast<size_t>(M * K)), bias(static_cast<size_t>(N));
    std::vector<float> ref(static_cast<size_t>(M * N));
    for (auto& v : x) v = dist(rng);
    for (auto& v : bias) v = dist(rng);
    matmul_reference(ref.data(), N, x.data(), K, M, view, bias.data(), Precision::BF16);
    std::vector<uint8_t> ws(amx::gemm_workspace_bytes(M, K, omp_get_max_threads()));
    const std::string what = " M=" + std::to_string(M) + " N=" + std::to_string(N) + " K=" + std::to_string(K) +
                             " stride=" + std::to_string(stride);
    std::vector<float> got(ref.size());
    amx::matmul_gemm_bf16_emulated(got.data(), N, x.data(), K, M, view, bias.data(), false, ws.data());
    expect_close(got, ref, K, Precision::BF16, "amx-emulated" + what);
    if (!cpu_features().amx_bf16) continue;
    std::vector<float> hw(ref.size());
    amx::matmul_gemm_bf16(hw.data(), N, x.data(), K, M, view, bias.data(), false, ws.data());
    expect_close(hw, ref, K, Precision::BF16, "amx" + what);
  }
}

// Dispatch by speed: AMX takes bf16 products with many rows; vdpbf16ps only where it beats FMAs;
// f32 products and attention never go past AVX-512.
TEST(KernelChoice, FastestKernelPerOperation) {
  using K = KernelSet;
  auto expect = [](KernelChoice c, K gemm_f32, K gemm_bf16, K gemv_f32, K gemv_bf16) {
    EXPECT_EQ(c.gemm_f32, gemm_f32);
    EXPECT_EQ(c.gemm_bf16, gemm_bf16);
    EXPECT_EQ(c.gemv_f32, gemv_f32);
    EXPECT_EQ(c.gemv_bf16, gemv_bf16);
    EXPECT_EQ(c.attention, gemm_f32);
  };
  expect(choose_kernels(K::Amx, false), K::Avx512, K::Amx, K::Avx512, K::Avx512);  // Intel
  expect(choose_kernels(K::Amx, true), K::Avx512, K::Amx, K::Avx512, K::Avx512Bf16);
  expect(choose_kernels(K::Avx512Bf16, true), K::Avx512, K::Avx512Bf16, K::Avx512, K::Avx512Bf16);  // AMD Zen 4/5
  expect(choose_kernels(K::Avx512Bf16, false), K::Avx512, K::Avx512, K::Avx512, K::Avx512);
  expect(choose_kernels(K::Avx512, true), K::Avx512, K::Avx512, K::Avx512, K::Avx512);
  expect(choose_kernels(K::Avx2, true), K::Avx2, K::Avx2, K::Avx2, K::Avx2);
  expect(choose_kernels(K::Portable, true), K::Portable, K::Portable, K::Portable, K::Portable);
  // Quantized weights with many rows: AMX's tiles where they exist, else the 8-bit kernels' tier.
  EXPECT_EQ(choose_kernels(K::Amx, false).gemm_quant, K::Amx);
  EXPECT_EQ(choose_kernels(K::Avx512Bf16, true).gemm_quant, choose_kernels(K::Avx512Bf16, true).gemv_quant);
  EXPECT_EQ(choose_kernels(K::Avx2, true).gemm_quant, K::Avx2);
}

TEST(KernelChoice, ForcedSetIsCappedAndRestored) {
  const KernelSet best = cpu_kernel_set();
  {
    test::ScopedKernelSet forced(KernelSet::Amx);
    EXPECT_EQ(active_kernel_set(), best);
  }
  {
    test::ScopedKernelSet forced(KernelSet::Portable);
    EXPECT_EQ(active_kernel_set(), KernelSet::Portable);
    EXPECT_EQ(active_kernels().gemm_bf16, KernelSet::Portable);
  }
  for (KernelSet k : cpu_kernel_sets()) EXPECT_EQ(parse_kernel_set(kernel_set_name(k)), k);
  EXPECT_EQ(parse_kernel_set("avx9"), std::nullopt);
}

TEST(Matmul, EmptyInnerDimensionGivesBias) {
  std::vector<float> y(3, 7.f), bias = {1.f, 2.f, 3.f};
  matmul(y.data(), 3, nullptr, 0, 1, WeightView::dense(DType::F32, nullptr, 3, 0), bias.data(), Precision::F32);
  EXPECT_EQ(y, bias);
}

}  // namespace
}  // namespace adallava
