// Every kernel set this CPU runs (AVX-512, AVX2, portable; GEMV and packed GEMM, f32 and bf16
// precision) against the reference, on random shapes with odd sizes, every weight dtype, strided
// views and accumulation.
#include "kernels/matmul.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "tensor/dtype.h"

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
  for (KernelSet k : {KernelSet::Portable, KernelSet::Avx2, KernelSet::Avx512}) {
    if (k > cpu_kernel_set()) continue;
    std::vector<float> got = y0;
    set_kernel_limit(k);
    matmul(got.data(), ldy, x.data(), ldx, M, view, b, p, accumulate);
    set_kernel_limit(KernelSet::Avx512);
    expect_close(got, ref, K, p, std::string(kernel_set_name(k)) + " " + what);
    // Padding between rows is never written.
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = N; n < ldy; ++n)
        ASSERT_EQ(got[size_t(m * ldy + n)], y0[size_t(m * ldy + n)]) << kernel_set_name(k) << " " << what;
  }
}

TEST(Matmul, FastPathsMatchReferenceOnRandomShapes) {
  std::mt19937 rng(1234);
  const int64_t shapes[][3] = {{1, 1, 1},   {1, 17, 33},  {2, 64, 64},   {3, 45, 130}, {4, 100, 257},
                               {5, 33, 15}, {12, 32, 64}, {13, 31, 513}, {27, 320, 64}, {40, 70, 1030},
                               {7, 1, 300}, {1, 300, 7},  {25, 96, 1}};
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

TEST(Matmul, EmptyInnerDimensionGivesBias) {
  std::vector<float> y(3, 7.f), bias = {1.f, 2.f, 3.f};
  matmul(y.data(), 3, nullptr, 0, 1, WeightView::dense(DType::F32, nullptr, 3, 0), bias.data(), Precision::F32);
  EXPECT_EQ(y, bias);
}

}  // namespace
}  // namespace adallava
