// Every backward against central finite differences in double precision, on random odd shapes.
// The loss is L = Σ out ⊙ R for a fixed random R, so dL/dout = R.
#include "train/grad_ops.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>
#include <tuple>

#include "kernels/ops.h"
#include "train/train_test_util.h"

namespace adallava::train {
namespace {

using Vec = std::vector<double>;

Vec random_vec(size_t n, std::mt19937& rng, double lo = -1, double hi = 1) {
  std::uniform_real_distribution<double> d(lo, hi);
  Vec v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

double dot(const Vec& a, const Vec& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

using test::expect_gradient;

TEST(GradOps, Linear) {
  std::mt19937 rng(1);
  const int64_t T = 3, K = 5, N = 7;
  Vec x = random_vec(T * K, rng), w = random_vec(N * K, rng), b = random_vec(N, rng), R = random_vec(T * N, rng);
  auto loss = [&] {
    Vec y(T * N);
    linear_forward(y.data(), x.data(), w.data(), b.data(), T, K, N);
    return dot(y, R);
  };
  Vec dx(x.size()), dw(w.size()), db(b.size());
  linear_backward(dx.data(), dw.data(), db.data(), R.data(), x.data(), w.data(), T, K, N);
  expect_gradient(x, dx, loss, "dx");
  expect_gradient(w, dw, loss, "dw");
  expect_gradient(b, db, loss, "db");
}

// In float, linear goes through the engine's packed kernels: same results as the double loops.
TEST(GradOps, FloatLinearThroughTheKernelsMatchesTheLoops) {
  std::mt19937 rng(11);
  for (auto [T, K, N] : {std::tuple<int64_t, int64_t, int64_t>{1, 7, 5}, {5, 37, 29}, {13, 64, 70}, {40, 129, 33}}) {
    SCOPED_TRACE(std::to_string(T) + "x" + std::to_string(K) + "x" + std::to_string(N));
    Vec x = random_vec(size_t(T * K), rng), w = random_vec(size_t(N * K), rng), b = random_vec(size_t(N), rng),
        dy = random_vec(size_t(T * N), rng);
    auto f = [](const Vec& v) { return std::vector<float>(v.begin(), v.end()); };
    std::vector<float> xf = f(x), wf = f(w), bf = f(b), dyf = f(dy), yf(size_t(T * N)), dxf(x.size(), 0.5f),
                       dwf(w.size(), 0.25f), dbf(b.size(), 1.f);
    Vec y(size_t(T * N)), dx(x.size(), 0.5), dw(w.size(), 0.25), db(b.size(), 1.0);  // backward adds
    linear_forward(yf.data(), xf.data(), wf.data(), bf.data(), T, K, N);
    linear_forward(y.data(), x.data(), w.data(), b.data(), T, K, N);
    linear_backward(dxf.data(), dwf.data(), dbf.data(), dyf.data(), xf.data(), wf.data(), T, K, N);
    linear_backward(dx.data(), dw.data(), db.data(), dy.data(), x.data(), w.data(), T, K, N);
    auto close = [](const std::vector<float>& got, const Vec& want, const char* what) {
      for (size_t i = 0; i < want.size(); ++i)
        EXPECT_NEAR(got[i], want[i], 1e-5 * std::max(1.0, std::abs(want[i]))) << what << " " << i;
    };
    close(yf, y, "y");
    close(dxf, dx, "dx");
    close(dwf, dw, "dw");
    close(dbf, db, "db");
  }
}

TEST(GradOps, FloatAttentionThroughTheKernelsMatchesTheLoops) {
  std::mt19937 rng(12);
  // T, heads, KV heads, head size; causal and bidirectional.
  for (auto [T, nh, nkv, hd] : {std::tuple<int64_t, int, int, int>{1, 2, 1, 3}, {7, 4, 2, 5}, {19, 3, 3, 16}, {33, 6, 2, 9}})
    for (bool causal : {true, false}) {
      SCOPED_TRACE(std::to_string(T) + " rows, " + std::to_string(nh) + "/" + std::to_string(nkv) + " heads of " +
                   std::to_string(hd) + (causal ? ", causal" : ""));
      const int64_t qd = nh * hd, kvd = nkv * hd;
      Vec q = random_vec(size_t(T * qd), rng), k = random_vec(size_t(T * kvd), rng), v = random_vec(size_t(T * kvd), rng),
          dout = random_vec(size_t(T * qd), rng);
      auto f = [](const Vec& x) { return std::vector<float>(x.begin(), x.end()); };
      std::vector<float> qf = f(q), kf = f(k), vf = f(v), doutf = f(dout), outf(q.size()), pf(size_t(nh * T * T)),
                         dqf(q.size(), 0.5f), dkf(k.size(), 0.25f), dvf(v.size(), 1.f);
      Vec out(q.size()), pd(size_t(nh * T * T)), dq(q.size(), 0.5), dk(k.size(), 0.25), dv(v.size(), 1.0);
      const double scale = 1 / std::sqrt(double(hd));
      attention_forward(outf.data(), pf.data(), qf.data(), kf.data(), vf.data(), T, nh, nkv, hd, float(scale), causal);
      attention_forward(out.data(), pd.data(), q.data(), k.data(), v.data(), T, nh, nkv, hd, scale, causal);
      attention_backward(dqf.data(), dkf.data(), dvf.data(), doutf.data(), pf.data(), qf.data(), kf.data(), vf.data(),
                         T, nh, nkv, hd, float(scale));
      attention_backward(dq.data(), dk.data(), dv.data(), dout.data(), pd.data(), q.data(), k.data(), v.data(), T, nh,
                         nkv, hd, scale);
      auto close = [](const std::vector<float>& got, const Vec& want, const char* what) {
        for (size_t i = 0; i < want.size(); ++i)
          EXPECT_NEAR(got[i], want[i], 1e-5 * std::max(1.0, std::abs(want[i]))) << what << " " << i;
      };
      close(outf, out, "out");
      close(pf, pd, "probabilities");
      close(dqf, dq, "dq");
      close(dkf, dk, "dk");
      close(dvf, dv, "dv");
    }
}

TEST(GradOps, RmsNormAndLayerNorm) {
  std::mt19937 rng(2);
  const int64_t T = 3, C = 7;
  Vec x = random_vec(T * C, rng), w = random_vec(C, rng, 0.5, 1.5), b = random_vec(C, rng), R = random_vec(T * C, rng);
  Vec r(T), mean(T);
  auto rms = [&] {
    Vec y(T * C);
    rms_norm_forward(y.data(), r.data(), x.data(), w.data(), T, C, 1e-5);
    return dot(y, R);
  };
  rms();
  Vec dx(x.size()), dw(w.size());
  rms_norm_backward(dx.data(), dw.data(), R.data(), x.data(), w.data(), r.data(), T, C);
  expect_gradient(x, dx, rms, "rms dx");
  expect_gradient(w, dw, rms, "rms dw");

  auto ln = [&] {
    Vec y(T * C);
    layer_norm_forward(y.data(), mean.data(), r.data(), x.data(), w.data(), b.data(), T, C, 1e-5);
    return dot(y, R);
  };
  ln();
  Vec lx(x.size()), lw(w.size()), lb(b.size());
  layer_norm_backward(lx.data(), lw.data(), lb.data(), R.data(), x.data(), w.data(), mean.data(), r.data(), T, C);
  expect_gradient(x, lx, ln, "ln dx");
  expect_gradient(w, lw, ln, "ln dw");
  expect_gradient(b, lb, ln, "ln db");
}

TEST(GradOps, ActivationsAndSwiglu) {
  std::mt19937 rng(3);
  const int64_t n = 11;
  for (Act a : {Act::Silu, Act::GeluErf, Act::QuickGelu}) {
    Vec x = random_vec(n, rng, -3, 3), R = random_vec(n, rng);
    auto loss = [&] {
      Vec y(n);
      act_forward(a, y.data(), x.data(), n);
      return dot(y, R);
    };
    Vec dx(n);
    act_backward(a, dx.data(), R.data(), x.data(), n);
    expect_gradient(x, dx, loss, "activation");
  }
  // The float forward agrees with the inference kernels.
  std::vector<float> xf = {-2.5f, -0.3f, 0.f, 0.7f, 3.1f}, a(xf.size()), b = xf;
  act_forward(Act::GeluErf, a.data(), xf.data(), int64_t(xf.size()));
  gelu_erf(b.data(), int64_t(b.size()));
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-6);

  Vec g = random_vec(n, rng, -3, 3), u = random_vec(n, rng), R = random_vec(n, rng);
  auto loss = [&] {
    Vec y(n);
    swiglu_forward(y.data(), g.data(), u.data(), n);
    return dot(y, R);
  };
  Vec dg(n), du(n);
  swiglu_backward(dg.data(), du.data(), R.data(), g.data(), u.data(), n);
  expect_gradient(g, dg, loss, "swiglu dg");
  expect_gradient(u, du, loss, "swiglu du");
}

TEST(GradOps, RopeBackwardIsTheInverseRotation) {
  std::mt19937 rng(4);
  const int64_t T = 3;
  const int nh = 3, hd = 6;
  std::vector<float> inv(hd / 2);
  rope_inv_freq(inv.data(), hd, 10000.f);
  const std::vector<int64_t> pos = {0, 4, 9};
  Vec x = random_vec(T * nh * hd, rng), R = random_vec(x.size(), rng);
  auto loss = [&] {
    Vec y = x;
    rope(y.data(), nh * hd, T, nh, hd, pos.data(), inv.data(), false);
    return dot(y, R);
  };
  Vec dx = R;
  rope(dx.data(), nh * hd, T, nh, hd, pos.data(), inv.data(), true);
  expect_gradient(x, dx, loss, "rope dx");
}

TEST(GradOps, AttentionCausalAndBidirectionalWithGroupedHeads) {
  std::mt19937 rng(5);
  const int64_t T = 5;
  const int nh = 4, nkv = 2, hd = 3;
  for (bool causal : {true, false}) {
    Vec q = random_vec(T * nh * hd, rng), k = random_vec(T * nkv * hd, rng), v = random_vec(T * nkv * hd, rng),
        R = random_vec(q.size(), rng), p(size_t(nh * T * T));
    const double scale = 1 / std::sqrt(double(hd));
    auto loss = [&] {
      Vec o(q.size());
      attention_forward(o.data(), p.data(), q.data(), k.data(), v.data(), T, nh, nkv, hd, scale, causal);
      return dot(o, R);
    };
    loss();
    Vec dq(q.size()), dk(k.size()), dv(v.size());
    attention_backward(dq.data(), dk.data(), dv.data(), R.data(), p.data(), q.data(), k.data(), v.data(), T, nh, nkv,
                       hd, scale);
    expect_gradient(q, dq, loss, causal ? "causal dq" : "bidirectional dq");
    expect_gradient(k, dk, loss, causal ? "causal dk" : "bidirectional dk");
    expect_gradient(v, dv, loss, causal ? "causal dv" : "bidirectional dv");
  }
}

TEST(GradOps, CrossEntropyIgnoresTargetsAndEmbeddingScatters) {
  std::mt19937 rng(6);
  const int64_t T = 5, V = 7, C = 3;
  Vec logits = random_vec(T * V, rng, -2, 2);
  const std::vector<int64_t> targets = {3, -100, 0, 6, -100};
  auto loss = [&] { return cross_entropy<double>(nullptr, logits.data(), targets.data(), T, V, -100, 1.0); };
  Vec dl(logits.size());
  int64_t n = 0;
  const double l = cross_entropy(dl.data(), logits.data(), targets.data(), T, V, -100, 1.0, &n);
  EXPECT_EQ(n, 3);
  EXPECT_GT(l, 0);
  for (int64_t i = 0; i < V; ++i) EXPECT_EQ(dl[size_t(1 * V + i)], 0.0);  // ignored row
  expect_gradient(logits, dl, loss, "cross-entropy");
  const std::vector<int64_t> none = {-100, -100};
  EXPECT_EQ(cross_entropy<double>(nullptr, logits.data(), none.data(), 2, V, -100, 1.0), 0.0);

  Vec table = random_vec(V * C, rng), R = random_vec(T * C, rng);
  const std::vector<int64_t> ids = {2, 5, 2, 0, 6};
  auto emb = [&] {
    Vec o(T * C);
    embedding_forward(o.data(), table.data(), ids.data(), T, C);
    return dot(o, R);
  };
  Vec dt(table.size());
  embedding_backward(dt.data(), R.data(), ids.data(), T, C);
  expect_gradient(table, dt, emb, "embedding");
}

}  // namespace
}  // namespace adallava::train
