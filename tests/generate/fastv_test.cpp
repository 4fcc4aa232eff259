// FastV against a reference derived from its definition: a masked-form run in which every row
// goes through every layer, and from layer K on no row attends to the image rows that the last
// text row attended to least in layer K-1 (head-averaged). The session instead deletes those
// rows (and their K/V) from layer K on; the kept rows' results must be the same.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "generate/session.h"
#include "kernels/ops.h"
#include "tensor/error.h"
#include "test_util.h"

namespace adallava {
namespace {

std::vector<float> dense(const WeightView& w) {
  std::vector<float> out(size_t(w.rows * w.cols));
  for (int64_t r = 0; r < w.rows; ++r) to_f32(w.dtype, w.at(r, 0), out.data() + r * w.cols, size_t(w.cols));
  return out;
}

// y (T, rows) = x (T, cols) · Wᵀ in double, one row at a time.
std::vector<float> linear(const WeightView& wv, const std::vector<float>& x, int64_t T) {
  const std::vector<float> w = dense(wv);
  std::vector<float> y(size_t(T * wv.rows));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t r = 0; r < wv.rows; ++r) {
      double s = 0;
      for (int64_t c = 0; c < wv.cols; ++c) s += double(x[size_t(t * wv.cols + c)]) * double(w[size_t(r * wv.cols + c)]);
      y[size_t(t * wv.rows + r)] = float(s);
    }
  return y;
}

// The whole decoder over all rows (full plan), causal attention; from layer k on the rows in
// `masked` are no row's keys. rank_row's head-averaged attention in layer k-1 goes to *rank.
std::vector<float> masked_decoder(const LlamaDecoder& d, std::vector<float> x, int64_t T, int k,
                                  const std::vector<bool>& masked, int64_t rank_row, std::vector<double>* rank) {
  const TextConfig& c = d.config();
  const int64_t H = c.hidden_size, hd = c.head_dim, nh = c.num_heads, group = c.num_heads / c.num_kv_heads;
  std::vector<int64_t> pos(static_cast<size_t>(T));
  std::iota(pos.begin(), pos.end(), 0);
  std::vector<float> xn(size_t(T * H));
  for (int l = 0; l < c.num_layers; ++l) {
    const LlamaLayer& L = d.layer(l);
    rms_norm(xn.data(), x.data(), L.attn_norm.data(), T, H, c.rms_norm_eps);
    std::vector<float> q = linear(L.q.w, xn, T), kk = linear(L.k.w, xn, T), v = linear(L.v.w, xn, T);
    rope_apply(q.data(), nh * hd, T, int(nh), int(hd), pos.data(), d.inv_freq());
    rope_apply(kk.data(), c.num_kv_heads * hd, T, c.num_kv_heads, int(hd), pos.data(), d.inv_freq());
    std::vector<float> att(size_t(T * nh * hd), 0.f);
    if (l == k - 1) rank->assign(size_t(T), 0.0);
    for (int64_t t = 0; t < T; ++t)
      for (int64_t h = 0; h < nh; ++h) {
        const int64_t g = h / group, kvd = c.num_kv_heads * hd;
        std::vector<double> p(size_t(t + 1), 0.0);
        double mx = -1e300, sum = 0;
        for (int64_t j = 0; j <= t; ++j) {
          if (l >= k && masked[size_t(j)]) continue;
          double s = 0;
          for (int64_t e = 0; e < hd; ++e) s += double(q[size_t(t * nh * hd + h * hd + e)]) * kk[size_t(j * kvd + g * hd + e)];
          p[size_t(j)] = s / std::sqrt(double(hd));
          mx = std::max(mx, p[size_t(j)]);
        }
        for (int64_t j = 0; j <= t; ++j)
          sum += (p[size_t(j)] = (l >= k && masked[size_t(j)]) ? 0.0 : std::exp(p[size_t(j)] - mx));
        for (int64_t j = 0; j <= t; ++j) {
          p[size_t(j)] /= sum;
          if (l == k - 1 && t == rank_row) (*rank)[size_t(j)] += p[size_t(j)] / double(nh);
          for (int64_t e = 0; e < hd; ++e)
            att[size_t(t * nh * hd + h * hd + e)] += float(p[size_t(j)] * v[size_t(j * kvd + g * hd + e)]);
        }
      }
    const std::vector<float> o = linear(L.o.w, att, T);
    for (size_t i = 0; i < x.size(); ++i) x[i] += o[i];
    rms_norm(xn.data(), x.data(), L.mlp_norm.data(), T, H, c.rms_norm_eps);
    std::vector<float> gate = linear(L.gate.w, xn, T);
    const std::vector<float> up = linear(L.up.w, xn, T);
    for (size_t i = 0; i < gate.size(); ++i) gate[i] = gate[i] / (1.f + std::exp(-gate[i])) * up[i];
    const std::vector<float> down = linear(L.down.w, gate, T);
    for (size_t i = 0; i < x.size(); ++i) x[i] += down[i];
  }
  return x;
}

std::vector<float> last_logits(const LlamaDecoder& d, const std::vector<float>& x, int64_t row) {
  std::vector<float> normed(static_cast<size_t>(d.hidden())), logits(static_cast<size_t>(d.vocab()));
  d.final_norm(normed.data(), x.data() + row * d.hidden(), 1);
  d.lm_head(logits.data(), normed.data(), 1, Precision::F32);
  return logits;
}

TEST(FastV, DroppingRowsEqualsMaskingThemFromLayerKOn) {
  // A plain LLaVA and an AdaLLaVA (full budget: every layer runs; the latency token is last and
  // the last text row ranks).
  for (const char* name : {"llava_tiny_f32", "adallava_tiny_L", "adallava_tiny_H"}) {
    SCOPED_TRACE(name);
    const std::string dir = test::fixture(name);
    const auto m = LlavaModel::load(dir);
    const LlamaDecoder& d = m->decoder();
    const int64_t H = d.hidden();
    const auto pixels = test::npy_f32(dir + "/pixel_values.npy");
    const std::vector<int64_t> ids = test::npy_i64(dir + "/input_ids.npy");
    const int k = 2;
    const double r = 0.5;
    GenerateOptions g;
    g.max_new_tokens = 3;
    g.ignore_eos = true;
    g.token_selection = TokenSelection::parse("fastv:2,0.5");
    const GenerateResult got = generate(*m, ids, pixels.data(), g, /*keep_step_logits=*/true);

    // The reference: the same prompt rows (latency token last), the image rows, the ranking.
    std::vector<int64_t> merged;
    const std::vector<float> features = m->encode_image(pixels.data(), Precision::F32);
    std::vector<float> x = m->merge_embeddings(ids, &features, &merged);
    const int64_t n_text = int64_t(merged.size());
    if (m->adaptive()) {
      const float* tok = m->adaptive()->encoder.token(m->adaptive()->config.max_units());
      x.insert(x.end(), tok, tok + H);
    }
    const int64_t T = int64_t(x.size()) / H, rank_row = n_text - 1;
    std::vector<int64_t> image;
    for (int64_t t = 0; t < n_text; ++t)
      if (merged[size_t(t)] == m->config().image_token_id) image.push_back(t);
    std::vector<double> rank;
    masked_decoder(d, x, T, k, std::vector<bool>(size_t(T), false), rank_row, &rank);
    std::stable_sort(image.begin(), image.end(), [&](int64_t a, int64_t b) { return rank[size_t(a)] > rank[size_t(b)]; });
    const size_t keep = image.size() - size_t(std::floor(r * double(image.size())));
    std::vector<bool> masked(size_t(T), false);
    for (size_t i = keep; i < image.size(); ++i) masked[size_t(image[i])] = true;
    EXPECT_EQ(got.image_rows, int64_t(image.size()));
    EXPECT_EQ(got.image_rows_kept, int64_t(keep));

    // Prefill and each decoded step: the masked run over the rows so far.
    for (size_t step = 0; step < got.ids.size(); ++step) {
      SCOPED_TRACE("step " + std::to_string(step));
      const int64_t rows = int64_t(x.size()) / H;
      masked.resize(size_t(rows), false);
      std::vector<double> unused;
      const std::vector<float> y = masked_decoder(d, x, rows, k, masked, rank_row, &unused);
      EXPECT_TRUE(test::all_close(got.step_logits[step], last_logits(d, y, rows - 1), 1e-4, "logits"));
      x.resize(x.size() + size_t(H));
      d.embed(x.data() + x.size() - size_t(H), &got.ids[step], 1);
    }
  }
}

TEST(FastV, DropsNothingAtRatioZeroAndRejectsLayersOutsideThePrefix) {
  const std::string dir = test::fixture("adallava_tiny_L");
  const auto m = LlavaModel::load(dir);
  const auto pixels = test::npy_f32(dir + "/pixel_values.npy");
  const std::vector<int64_t> ids = test::npy_i64(dir + "/input_ids.npy");
  GenerateOptions g;
  g.max_new_tokens = 2;
  g.ignore_eos = true;
  const GenerateResult full = generate(*m, ids, pixels.data(), g, true);
  g.token_selection = TokenSelection::parse("fastv:1,0");
  const GenerateResult none = generate(*m, ids, pixels.data(), g, true);
  EXPECT_EQ(none.image_rows_kept, none.image_rows);
  EXPECT_EQ(none.ids, full.ids);
  for (size_t s = 0; s < full.step_logits.size(); ++s)
    EXPECT_TRUE(test::all_close(none.step_logits[s], full.step_logits[s], 1e-5, "logits"));

  const int P = m->adaptive()->config.num_prefix_layers;
  g.token_selection = TokenSelection::parse("fastv:" + std::to_string(P + 1) + ",0.5");
  try {
    generate(*m, ids, pixels.data(), g);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("prefix"), std::string::npos) << e.what();
  }
  g.token_selection = TokenSelection::parse("fastv:" + std::to_string(P) + ",0.5");
  EXPECT_NO_THROW(generate(*m, ids, pixels.data(), g));
}

TEST(FastV, LogitsOfEveryRowCoverTheKeptRows) {
  const std::string dir = test::fixture("llava_tiny_f32");
  const auto m = LlavaModel::load(dir);
  const auto pixels = test::npy_f32(dir + "/pixel_values.npy");
  const std::vector<int64_t> ids = test::npy_i64(dir + "/input_ids.npy");
  const TokenSelection f = TokenSelection::parse("fastv:1,0.25");
  int64_t rows = 0, full_rows = 0;
  const auto logits = all_logits(*m, ids, pixels.data(), Precision::F32, {}, &rows, nullptr, &f);
  all_logits(*m, ids, pixels.data(), Precision::F32, {}, &full_rows);
  const int64_t image = m->image_tokens();
  EXPECT_EQ(rows, full_rows - image / 4);
  EXPECT_EQ(int64_t(logits.size()), rows * m->decoder().vocab());
}

}  // namespace
}  // namespace adallava
