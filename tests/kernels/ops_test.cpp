#include "kernels/ops.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "kernels/attention.h"
#include "kernels/matmul.h"
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
