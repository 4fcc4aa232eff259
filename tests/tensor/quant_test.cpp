// Block quantization against gguf-py's dequantization of llama.cpp's own files (bit-exact), and
// the integer dot products of every kernel set against the portable one.
#include "tensor/quant.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <set>

#include "io/gguf.h"
#include "kernels/cpu_features.h"
#include "kernels/dequant_avx2.h"
#include "kernels/matmul_quant.h"
#include "test_util.h"

namespace adallava {
namespace {

const GgufTensor& tensor_of(const GgufFile& f, const std::string& name) {
  for (const GgufTensor& t : f.tensors())
    if (t.name == name) return t;
  throw std::runtime_error("no tensor " + name);
}

// Every deq_*.npy slice of the fixture: the listed rows of one tensor of one file.
TEST(Quant, DequantizationIsBitExactWithGgml) {
  const std::string dir = test::fixture("gguf_llava_tiny");
  const nlohmann::json files = test::manifest(dir)["files"];
  int checked = 0;
  for (const auto& [file, meta] : files.items()) {
    if (file.rfind("deq_", 0) != 0) continue;
    const GgufFile f(dir + "/" + meta["gguf"].get<std::string>());
    const GgufTensor& t = tensor_of(f, meta["tensor"]);
    const int64_t cols = t.shape.size() == 2 ? t.shape[1] : t.shape[1] * t.shape[2] * t.shape[3];
    const std::vector<float> want = test::npy_f32(dir + "/" + file);
    std::vector<float> got;
    for (const auto& r : meta["rows"]) {
      const int64_t row = r.get<int64_t>();
      if (size_t(got.size()) >= want.size()) break;  // the conv slice keeps one output channel
      std::vector<float> out(static_cast<size_t>(cols));
      dequantize(t.dtype, static_cast<const uint8_t*>(t.data) + row_bytes(t.dtype, cols) * size_t(row), out.data(),
                 cols);
      got.insert(got.end(), out.begin(), out.end());
    }
    ASSERT_EQ(got.size(), want.size()) << file;
    EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * 4), 0) << file << " (" << dtype_name(t.dtype) << ")";
    ++checked;
  }
  EXPECT_GE(checked, 30);
}

TEST(Quant, EveryTypeOfTheFixtureIsCovered) {
  const std::string dir = test::fixture("gguf_llava_tiny");
  std::set<DType> seen;
  for (const char* name : {"ggml-model-Q8_0.gguf", "ggml-model-Q4_0.gguf", "ggml-model-Q4_K_M.gguf"}) {
    const GgufFile f(dir + "/" + name);
    for (const GgufTensor& t : f.tensors()) seen.insert(t.dtype);
  }
  for (DType t : {DType::F32, DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q6_K}) EXPECT_TRUE(seen.count(t)) << dtype_name(t);
}

std::vector<float> random_row(int64_t n, uint32_t seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d(0.f, 1.f);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = d(g);
  return v;
}

// Quantize then dequantize: Q8_0 within half a step of its block's scale (plus the f16
// rounding of the scale, up to 127 steps of 2^-11); Q4_0 within a step (its grid is −8..7 times
// d = max/−8, so values of the other sign near |max| clip to 7d).
TEST(Quant, QuantizeRoundTripsWithinAStep) {
  const std::vector<float> x = random_row(1024, 7);
  for (DType t : {DType::Q8_0, DType::Q4_0}) {
    std::vector<uint8_t> q(row_bytes(t, 1024));
    quantize(t, x.data(), q.data(), 1024);
    std::vector<float> back(1024);
    dequantize(t, q.data(), back.data(), 1024);
    for (int64_t b = 0; b < 32; ++b) {
      float amax = 0;
      for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[size_t(32 * b + j)]));
      const float step = t == DType::Q8_0 ? amax / 127 : amax / 8;
      const float bound = t == DType::Q8_0 ? step * (0.5f + 127.f / 2048) : step * (1.f + 8.f / 2048);
      for (int j = 0; j < 32; ++j)
        EXPECT_LE(std::fabs(back[size_t(32 * b + j)] - x[size_t(32 * b + j)]), bound * 1.001f)
            << dtype_name(t) << " element " << 32 * b + j;
    }
  }
}

// Q4_K's fit: every element within one step of its sub-block's grid (the 6-bit scale and
// min add up to a step of rounding).
TEST(Quant, Q4KQuantizeRoundTripsWithinItsGrid) {
  const std::vector<float> x = random_row(2048, 17);
  std::vector<uint8_t> q(row_bytes(DType::Q4_K, 2048));
  quantize(DType::Q4_K, x.data(), q.data(), 2048);
  std::vector<float> back(2048);
  dequantize(DType::Q4_K, q.data(), back.data(), 2048);
  for (int64_t s = 0; s < 64; ++s) {
    float lo = 0, hi = 0;
    for (int l = 0; l < 32; ++l) lo = std::min(lo, x[size_t(32 * s + l)]), hi = std::max(hi, x[size_t(32 * s + l)]);
    const float step = (hi - lo) / 15;
    for (int l = 0; l < 32; ++l)
      EXPECT_LE(std::fabs(back[size_t(32 * s + l)] - x[size_t(32 * s + l)]), 1.5f * step) << "element " << 32 * s + l;
  }
}

// Weight blocks for a type: quantized from random values where we quantize, else random bytes
// with sane scales (K types).
std::vector<uint8_t> random_weights(DType t, int64_t n, uint32_t seed) {
  std::vector<uint8_t> w(row_bytes(t, n));
  if (t == DType::Q8_0 || t == DType::Q4_0) {
    quantize(t, random_row(n, seed).data(), w.data(), n);
    return w;
  }
  std::mt19937 g(seed);
  for (auto& b : w) b = uint8_t(g());
  const size_t bb = block_bytes(t);
  for (size_t off = 0; off < w.size(); off += bb) {  // finite f16 scales
    const uint16_t d = f32_to_f16(0.01f), dmin = f32_to_f16(0.02f);
    if (t == DType::Q6_K) std::memcpy(&w[off + 208], &d, 2);
    else if (t == DType::Q4_K) std::memcpy(&w[off], &d, 2), std::memcpy(&w[off + 2], &dmin, 2);
    else std::memcpy(&w[off], &d, 2);
  }
  return w;
}

// The integer dot product equals the float dot of the dequantized weights with the
// dequantized activations (up to f32 rounding), and every kernel set agrees with the portable one.
TEST(Quant, DotProductsOfEveryKernelSet) {
  const int64_t n = 1024;
  const std::vector<float> x = random_row(n, 3);
  std::vector<BlockQ8_0> x0(size_t(n / 32));
  std::vector<BlockQ8_K> xk(size_t(n / 256));
  quantize_activation_q8_0(x.data(), x0.data(), n);
  quantize_activation_q8_k(x.data(), xk.data(), n);
  for (DType t : {DType::Q8_0, DType::Q4_0, DType::Q5_0, DType::Q4_K, DType::Q6_K}) {
    const std::vector<uint8_t> w = random_weights(t, n, 11);
    std::vector<float> wf(static_cast<size_t>(n)), xf(static_cast<size_t>(n));
    dequantize(t, w.data(), wf.data(), n);
    const bool k = uses_q8_k(t);
    for (int64_t i = 0; i < n; ++i)
      xf[size_t(i)] = k ? xk[size_t(i / 256)].d * xk[size_t(i / 256)].q[i % 256] : x0[size_t(i / 32)].d * x0[size_t(i / 32)].q[i % 32];
    double want = 0, scale = 0;
    for (int64_t i = 0; i < n; ++i) want += double(wf[size_t(i)]) * xf[size_t(i)], scale += std::fabs(double(wf[size_t(i)]) * xf[size_t(i)]);
    const void* xb = k ? static_cast<const void*>(xk.data()) : x0.data();
    const int64_t nb = n / (k ? 256 : 32);
    for (KernelSet ks : cpu_kernel_sets()) {
      const float got = quant_dot(ks, t, w.data(), xb, nb);
      EXPECT_NEAR(got, want, 1e-5 * scale) << dtype_name(t) << " on " << kernel_set_name(ks);
    }
  }
}

// The SIMD activation quantization gives the portable one's blocks exactly.
TEST(Quant, SimdActivationQuantizationIsExact) {
  if (!cpu_features().avx2) GTEST_SKIP() << "no AVX2 on this CPU";
  std::vector<float> x = random_row(4096, 23);
  x[5] = 0.f, x[100] = -x[101];  // ties and zeros inside blocks
  std::fill(x.begin() + 64, x.begin() + 96, 0.f);  // an all-zero block
  std::vector<BlockQ8_0> a(128), b(128);
  quantize_activation_q8_0(x.data(), a.data(), 4096);
  avx2::quantize_activation_q8_0(x.data(), b.data(), 4096);
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].d, b[i].d) << i;
    EXPECT_EQ(a[i].sum, b[i].sum) << i;
    EXPECT_EQ(a[i].zero8, b[i].zero8) << i;
    EXPECT_EQ(std::memcmp(a[i].q, b[i].q, 32), 0) << i;
  }
}

// Four interleaved rows at once equal the four plain rows' products on every kernel set.
TEST(Quant, InterleavedDotsMatchPlainOnes) {
  const int64_t n = 512, nb = n / 32;
  const std::vector<float> x = random_row(n, 21);
  std::vector<BlockQ8_0> xq(static_cast<size_t>(nb));
  quantize_activation_q8_0(x.data(), xq.data(), n);
  for (DType t : {DType::Q8_0, DType::Q4_0}) {
    std::vector<uint8_t> plain;
    for (uint32_t r = 0; r < 4; ++r) {
      const std::vector<uint8_t> row = random_weights(t, n, 40 + r);
      plain.insert(plain.end(), row.begin(), row.end());
    }
    std::vector<uint8_t> inter(plain.size());
    interleave_rows(t, plain.data(), inter.data(), 4, n);
    for (KernelSet ks : cpu_kernel_sets()) {
      float got[4];
      quant_dot4(ks, interleaved_type(t), inter.data(), xq.data(), nb, got);
      for (int r = 0; r < 4; ++r) {
        const float want = quant_dot(KernelSet::Portable, t, plain.data() + row_bytes(t, n) * size_t(r), xq.data(), nb);
        EXPECT_NEAR(got[r], want, 1e-4 * (1 + std::fabs(want))) << dtype_name(t) << " row " << r << " on " << kernel_set_name(ks);
      }
    }
  }
}

}  // namespace
}  // namespace adallava
