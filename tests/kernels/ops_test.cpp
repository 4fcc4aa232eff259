#include "kernels/ops.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/attention.h"
#include "kernels/kernel_set.h"
#include "kernels/matmul.h"
#include "tensor/dtype.h"
#include "test_util.h"

namespace adallava {
namespace {

TEST(Ops, RmsNormMatchesDefinition) {
  std::vector<float> x = {1, -2, 3, 0.5f, 2, 2}, w = {1, 0.5f, 2}, out(6);
  rms_norm(out.data(), x.data(), w.data(), 2, 3, 1e-6f);
  for (int t = 0; t < 2; ++t) {
    double ms = 0;
    for (int c = 0; c < 3; ++c) ms += x[size_t(t * 3 + c)] * x[size_t(t * 3 + c)] / 3.0;
    for (int c = 0; c < 3; ++c)
      EXPECT_NEAR(out[size_t(t * 3 + c)], x[size_t(t * 3 + c)] / std::sqrt(ms + 1e-6) * w[size_t(c)], 1e-6);
  }
}

TEST(Ops, LayerNormHasZeroMeanUnitVariance) {
  std::vector<float> x = {1, 2, 3, 4, 10, -10, 0, 5}, w(4, 1.f), b(4, 0.f), out(8);
  layer_norm(out.data(), x.data(), w.data(), b.data(), 2, 4, 1e-5f);
  for (int t = 0; t < 2; ++t) {
    double mean = 0, var = 0;
    for (int c = 0; c < 4; ++c) mean += out[size_t(t * 4 + c)] / 4.0;
    for (int c = 0; c < 4; ++c) var += (out[size_t(t * 4 + c)] - mean) * (out[size_t(t * 4 + c)] - mean) / 4.0;
    EXPECT_NEAR(mean, 0, 1e-6);
    EXPECT_NEAR(var, 1, 1e-4);
  }
}

TEST(Ops, Activations) {
  std::vector<float> x = {-2, -0.5f, 0, 0.5f, 3};
  auto g = x, q = x, s = x;
  gelu_erf(g.data(), 5);
  quick_gelu(q.data(), 5);
  silu(s.data(), 5);
  for (size_t i = 0; i < x.size(); ++i) {
    double v = x[i];
    EXPECT_NEAR(g[i], 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))), 1e-6);
    EXPECT_NEAR(q[i], v / (1 + std::exp(-1.702 * v)), 1e-6);
    EXPECT_NEAR(s[i], v / (1 + std::exp(-v)), 1e-6);
  }
}

TEST(Ops, SoftmaxSumsToOneAndIsShiftInvariant) {
  std::vector<float> a = {1, 2, 3, 1000}, b = {-999, -998, -997, 0};
  softmax(a.data(), 4);
  softmax(b.data(), 4);
  double sum = 0;
  for (size_t i = 0; i < 4; ++i) {
    sum += a[i];
    EXPECT_NEAR(a[i], b[i], 1e-7);
  }
  EXPECT_NEAR(sum, 1, 1e-6);
}

// Every kernel set's exp-based activations and softmax against double precision, on an array
// long enough to be cut between threads with a ragged tail; and each value as computed in the
// long array equals the value computed alone, so nothing depends on position or thread count.
TEST(Ops, ExpActivationsOfEveryKernelSetMatchDoublePrecision) {
  const int64_t n = 100003;
  std::vector<float> x(static_cast<size_t>(n)), up(x.size());
  for (int64_t i = 0; i < n; ++i) {
    x[size_t(i)] = float(std::sin(double(i) * 0.37) * 30.0);
    up[size_t(i)] = float(std::cos(double(i) * 0.11));
  }
  const float special[] = {0.f, -0.f, 88.f, -88.f, 200.f, -200.f, INFINITY, -INFINITY, NAN};
  std::copy(std::begin(special), std::end(special), x.begin() + 5000);
  // e^a of a float argument a carries a's rounding (and 1.702f's), |a| · 2^-23 relative; allow
  // that plus 4 ulps.
  auto tolerance = [](double r, double a) { return (std::fabs(a) * 1.2e-7 + 2.4e-7) * std::fabs(r) + 1e-37; };
  auto check = [&](const char* what, const std::vector<float>& got, double k, auto ref) {
    for (int64_t i = 0; i < n; ++i) {
      const double r = ref(i);
      const float g = got[size_t(i)];
      if (std::isnan(r) || std::isinf(r)) {
        ASSERT_TRUE(std::isnan(r) ? std::isnan(g) : g == float(r)) << what << " at x=" << x[size_t(i)];
        continue;
      }
      ASSERT_NEAR(g, r, tolerance(r, k * x[size_t(i)])) << what << " at x=" << x[size_t(i)];
    }
  };
  auto sig = [&](int64_t i, double k) {
    const double v = x[size_t(i)];
    if (std::isinf(v)) return v > 0 ? v : double(NAN);  // inf · 1, and -inf / inf
    return v / (1.0 + std::exp(-k * v));
  };
  for (KernelSet set : cpu_kernel_sets()) {
    test::ScopedKernelSet forced(set);
    SCOPED_TRACE(kernel_set_name(set));
    auto s = x, q = x, g = x;
    silu(s.data(), n);
    quick_gelu(q.data(), n);
    swiglu(g.data(), up.data(), n);
    check("silu", s, 1.0, [&](int64_t i) { return sig(i, 1.0); });
    check("quick_gelu", q, 1.702, [&](int64_t i) { return sig(i, 1.702); });
    check("swiglu", g, 1.0, [&](int64_t i) { return sig(i, 1.0) * up[size_t(i)]; });
    for (int64_t i : {int64_t(0), int64_t(4999), int64_t(5003), n - 1}) {
      float a = x[size_t(i)], b = x[size_t(i)];
      silu(&a, 1);
      quick_gelu(&b, 1);
      EXPECT_EQ(std::memcmp(&a, &s[size_t(i)], 4), 0) << "silu alone at " << i;
      EXPECT_EQ(std::memcmp(&b, &q[size_t(i)], 4), 0) << "quick_gelu alone at " << i;
    }
    for (int64_t len : {int64_t(1), int64_t(15), int64_t(17), int64_t(577)}) {
      const float scale = 0.125f;
      std::vector<float> row(x.begin(), x.begin() + len);
      softmax(row.data(), len, scale);
      double mx = -INFINITY, sum = 0;
      for (int64_t j = 0; j < len; ++j) mx = std::max(mx, double(scale * x[size_t(j)]));
      for (int64_t j = 0; j < len; ++j) sum += std::exp(double(scale * x[size_t(j)]) - mx);
      for (int64_t j = 0; j < len; ++j) {  // the float sum of len terms: about 1e-6 relative more
        const double a = double(scale * x[size_t(j)]) - mx;
        ASSERT_NEAR(row[size_t(j)], std::exp(a) / sum, tolerance(row[size_t(j)], a) + 1e-6 * row[size_t(j)])
            << "softmax of " << len << " at " << j;
      }
    }
  }
}

// Rounding to bf16 equals f32_to_bf16 bit for bit (ties to even, NaN, infinities); the norms of
// every kernel set match double precision on rows with a ragged tail.
TEST(Ops, NormsAndBf16RoundingOfEveryKernelSet) {
  std::vector<float> v = {0.f, -0.f, 1.f, 1.00390625f, 1.01171875f, -3.5e38f, 1e-40f, INFINITY, -INFINITY, NAN};
  for (uint32_t u = 0; u < 4000; ++u) {  // ties and neighbours around several exponents
    const uint32_t bits = 0x3f800000u + (u % 40) * 0x01000000u + (u & 0x1ffffu) * 0x8000u / 0x1000u + (u & 1u) * 0x8000u;
    float f;
    std::memcpy(&f, &bits, 4);
    v.push_back(u & 2 ? -f : f);
  }
  const int64_t T = 3, C = 1030;
  std::vector<float> x(static_cast<size_t>(T * C)), w(static_cast<size_t>(C)), b(static_cast<size_t>(C));
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(std::sin(double(i) * 0.7) * 3.0 + 0.5);
  for (size_t i = 0; i < w.size(); ++i) w[i] = float(1.0 + 0.1 * std::cos(double(i))), b[i] = float(0.01 * double(i % 7));
  for (KernelSet set : cpu_kernel_sets()) {
    test::ScopedKernelSet forced(set);
    SCOPED_TRACE(kernel_set_name(set));
    std::vector<uint16_t> got(v.size());
    round_to_bf16(v.data(), got.data(), int64_t(v.size()));
    for (size_t i = 0; i < v.size(); ++i) ASSERT_EQ(got[i], f32_to_bf16(v[i])) << "bf16 of " << v[i];
    std::vector<float> rn(x.size()), ln(x.size());
    rms_norm(rn.data(), x.data(), w.data(), T, C, 1e-6f);
    layer_norm(ln.data(), x.data(), w.data(), b.data(), T, C, 1e-5f);
    for (int64_t t = 0; t < T; ++t) {
      double ss = 0, mean = 0, var = 0;
      for (int64_t c = 0; c < C; ++c) ss += double(x[size_t(t * C + c)]) * x[size_t(t * C + c)], mean += x[size_t(t * C + c)];
      mean /= double(C);
      for (int64_t c = 0; c < C; ++c) var += (x[size_t(t * C + c)] - mean) * (x[size_t(t * C + c)] - mean);
      const double rinv = 1 / std::sqrt(ss / double(C) + 1e-6), linv = 1 / std::sqrt(var / double(C) + 1e-5);
      for (int64_t c = 0; c < C; ++c) {
        const double xv = x[size_t(t * C + c)];
        ASSERT_NEAR(rn[size_t(t * C + c)], xv * rinv * w[size_t(c)], 2e-6) << "rms_norm row " << t << " col " << c;
        ASSERT_NEAR(ln[size_t(t * C + c)], (xv - mean) * linv * w[size_t(c)] + b[size_t(c)], 2e-6)
            << "layer_norm row " << t << " col " << c;
      }
    }
  }
}

TEST(Ops, RopeRotatesHalfSplitPairs) {
  const int hd = 8;
  std::vector<float> inv(hd / 2);
  rope_inv_freq(inv.data(), hd, 10000.f);
  EXPECT_FLOAT_EQ(inv[0], 1.f);
  std::vector<float> x = {1, 2, 3, 4, 5, 6, 7, 8};
  const auto orig = x;
  const int64_t pos = 3;
  rope_apply(x.data(), hd, 1, 1, hd, &pos, inv.data());
  for (int i = 0; i < hd / 2; ++i) {
    double a = pos * double(inv[size_t(i)]);
    EXPECT_NEAR(x[size_t(i)], orig[size_t(i)] * std::cos(a) - orig[size_t(i + 4)] * std::sin(a), 1e-5);
    EXPECT_NEAR(x[size_t(i + 4)], orig[size_t(i + 4)] * std::cos(a) + orig[size_t(i)] * std::sin(a), 1e-5);
  }
}

// Attention against a direct evaluation, causal with a cached prefix and grouped KV heads:
// decode-sized and prefill-sized query blocks, head sizes with partial 16-lane chunks and more
// than 128 lanes, every kernel set this CPU runs.
TEST(Attention, CausalGroupedQueryMatchesDirectFormula) {
  const int nh = 4, nkv = 2;
  for (DType kv_dtype : {DType::F32, DType::BF16})
  for (KernelSet kernels : cpu_kernel_sets())
    for (int hd : {5, 16, 128, 136})
      for (int64_t T : {1, 4, 7}) {
        SCOPED_TRACE("hd " + std::to_string(hd) + " T " + std::to_string(T) + " " + kernel_set_name(kernels) +
                     " kv " + dtype_name(kv_dtype));
        test::ScopedKernelSet forced(kernels);
        const int64_t past = 3, cap = past + T + 2;
        std::vector<float> kbuf(size_t(nkv * cap * hd)), vbuf(kbuf.size());
        std::vector<uint16_t> k16(kbuf.size()), v16(kbuf.size());
        for (size_t i = 0; i < kbuf.size(); ++i) {
          kbuf[i] = std::sin(float(i)), vbuf[i] = std::cos(float(i) * 0.7f);
          if (kv_dtype == DType::BF16) {  // the cache holds bf16: expect the rounded values
            k16[i] = f32_to_bf16(kbuf[i]), v16[i] = f32_to_bf16(vbuf[i]);
            kbuf[i] = bf16_to_f32(k16[i]), vbuf[i] = bf16_to_f32(v16[i]);
          }
        }
        KvView kv = kv_dtype == DType::F32 ? KvView{kbuf.data(), vbuf.data(), cap, hd, nkv, DType::F32}
                                           : KvView{k16.data(), v16.data(), cap, hd, nkv, DType::BF16};
        std::vector<float> q(size_t(T * nh * hd)), out(q.size());
        for (size_t i = 0; i < q.size(); ++i) q[i] = std::sin(float(i) * 1.3f);
        const float scale = 1.f / std::sqrt(float(hd));
        attention(out.data(), nh * hd, q.data(), nh * hd, T, past, nh, kv, scale, true);
        for (int64_t t = 0; t < T; ++t)
          for (int h = 0; h < nh; ++h) {
            const int g = h / (nh / nkv);
            std::vector<double> s;
            double mx = -1e30;
            for (int64_t j = 0; j <= past + t; ++j) {
              double d = 0;
              for (int c = 0; c < hd; ++c) d += q[size_t((t * nh + h) * hd + c)] * kbuf[size_t((g * cap + j) * hd + c)];
              s.push_back(d * scale);
              mx = std::max(mx, s.back());
            }
            double z = 0;
            for (auto& v : s) z += (v = std::exp(v - mx));
            for (int c = 0; c < hd; ++c) {
              double o = 0;
              for (size_t j = 0; j < s.size(); ++j) o += s[j] / z * vbuf[size_t((g * cap + int64_t(j)) * hd + c)];
              ASSERT_NEAR(out[size_t((t * nh + h) * hd + c)], o, 1e-5) << "t=" << t << " h=" << h << " c=" << c;
            }
          }
      }
}

}  // namespace
}  // namespace adallava
