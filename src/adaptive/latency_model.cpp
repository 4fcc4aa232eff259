#include "adaptive/latency_model.h"

#include <algorithm>
#include <chrono>
#include <numeric>

namespace adallava {

namespace {

constexpr int kProbeRows = 64;             // prompt rows of the prefill probe
constexpr int kProbeMinRuns = 3;           // each probe runs at least this often (a median of three
constexpr double kProbeMinMs = 20;         // ignores one hiccup), then until it has run this long
constexpr int kProbeMaxRuns = 50;          // or this many times (after one warm-up run)
constexpr double kQuickVisionMs = 250;     // an encode predicted under this is timed for real
constexpr double kGiga = 1e9, kMsPerS = 1e3;

// Median ms of f over repeated runs, after one run that warms caches and faults pages in
// (unless an earlier probe touched the same weights).
template <class F>
double median_ms(const F& f, bool warm_up = true) {
  if (warm_up) f();
  std::vector<double> ms;
  double total = 0;
  while (int(ms.size()) < kProbeMinRuns || (total < kProbeMinMs && int(ms.size()) < kProbeMaxRuns)) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    total += ms.back();
  }
  std::nth_element(ms.begin(), ms.begin() + long(ms.size() / 2), ms.end());
  return ms[ms.size() / 2];
}

// Multiply-adds of one image through the tower (up to the selected state) and the projector.
double vision_macs(const LlavaModel& m) {
  const VisionConfig& v = m.vision().config();
  const double C = v.hidden_size, I = v.intermediate_size, N = m.vision().tokens(), P = v.patch_size;
  const double H = m.config().text.hidden_size, rows = m.image_tokens();
  const double per_layer = N * (4 * C * C + 2 * C * I) + 2 * N * N * C;  // projections, MLP, attention
  return (N - 1) * 3 * P * P * C + m.vision().feature_index() * per_layer + rows * (C * H + H * H);
}

}  // namespace

UnitShape UnitShape::of(const LlavaModel& m) {
  UnitShape u;
  if (const AdaLlavaParts* a = m.adaptive()) {
    u.fixed_layers = a->config.num_prefix_layers;
    u.layers_per_unit = 1.0 / a->config.units_per_layer;
  } else {
    u.fixed_layers = m.config().text.num_layers;
  }
  return u;
}

LatencyModel LatencyModel::calibrate(const LlavaModel& m, Precision p) {
  const LlamaDecoder& d = m.decoder();
  const TextConfig& c = d.config();
  const LayerPlan full = ExecutionPlan::full(1, c.num_heads).layer(0);
  const int64_t H = c.hidden_size;
  std::vector<float> x(static_cast<size_t>(kProbeRows * H)), normed(static_cast<size_t>(H)),
      logits(static_cast<size_t>(c.vocab_size));
  std::vector<int64_t> pos(kProbeRows);
  std::iota(pos.begin(), pos.end(), 0);
  auto layer = [&](int rows) {
    std::fill(x.begin(), x.end(), 0.01f);
    d.forward_layer(0, full, x.data(), rows, pos.data(), p);
  };
  Costs k;
  k.layer_decode = median_ms([&] { layer(1); });
  const double prefill_ms = median_ms([&] { layer(kProbeRows); }, /*warm_up=*/false);  // the decode probe warmed it
  k.layer_prefill_row = prefill_ms / kProbeRows;
  k.head = median_ms([&] {
    d.final_norm(normed.data(), x.data(), 1);
    d.lm_head(logits.data(), normed.data(), 1, p);
  });
  // Attention beyond the probe's length at the probe's product rate; K/V reads at its read rate.
  const double layer_macs = d.layer_weights(full);
  const double gflops = 2 * layer_macs * kProbeRows / (prefill_ms / kMsPerS) / kGiga;
  k.attention_pair = 2.0 * 2 * c.num_heads * c.head_dim / (gflops * kGiga) * kMsPerS;
  const double weight_bytes = layer_macs * bytes_per_element(d.embed_weight().dtype);
  const double kv_bytes = 2.0 * c.num_kv_heads * c.head_dim * (p == Precision::F32 ? 4 : 2);
  k.kv_row = k.layer_decode * kv_bytes / weight_bytes;
  if (m.has_vision()) {
    k.vision = 2 * vision_macs(m) / (gflops * kGiga) * kMsPerS;
    if (k.vision < kQuickVisionMs) {
      const int S = m.vision().config().image_size;
      const std::vector<float> pixels(size_t(3 * S * S), 0.f);
      k.vision = median_ms([&] { m.encode_image(pixels.data(), p); });
    }
  }
  return LatencyModel(UnitShape::of(m), k);
}

double LatencyModel::decode_token_ms(int units, int64_t context) const {
  const double n = layers(units);
  return (n * costs_.layer_decode + costs_.head + double(context + 1) * n * costs_.kv_row) * decode_.median();
}

Phases LatencyModel::raw(const RequestShape& r) const {
  const Costs& k = costs_;
  const double T = double(r.prompt_rows), n_layers = layers(r.units);
  Phases ph;
  if (r.image) ph.vision = k.vision;
  ph.prefill = T * n_layers * k.layer_prefill_row + k.head +
               std::max(0.0, T * (T + 1) / 2 - T * (kProbeRows + 1) / 2.0) * n_layers * k.attention_pair;
  // Token k reads the weights once and the K/V of the T + k rows before it, in every layer that runs.
  const double n = std::max(0, r.new_tokens - 1);  // the first token comes from the prefill
  const double kv_rows = n * (T + 1) + n * (n - 1) / 2;
  ph.decode = n * (n_layers * k.layer_decode + k.head) + kv_rows * n_layers * k.kv_row;
  return ph;
}

Phases LatencyModel::predict(const RequestShape& r) const {
  Phases ph = raw(r);
  const Phases k = correction();
  ph.vision *= k.vision, ph.prefill *= k.prefill, ph.decode *= k.decode;
  return ph;
}

Phases LatencyModel::correction() const {
  return {vision_.median(), prefill_.median(), decode_.median()};
}

void LatencyModel::Ratios::add(double r) {
  last[size_t(n % 3)] = r;
  ++n;
}

double LatencyModel::Ratios::median() const {
  std::array<double, 3> s = last;
  std::sort(s.begin(), s.end());
  return s[1];
}

void LatencyModel::relax() {
  vision_.add(1), prefill_.add(1), decode_.add(1);
  spread_n_ = 0;
  idle_ = 0;
}

void LatencyModel::idle() {
  constexpr int kIdleRelax = 8;  // long enough that a load still there is not tried every other request
  if (++idle_ >= kIdleRelax) relax();
}

double LatencyModel::margin() const {
  constexpr int kMinSeen = 4;
  constexpr double kMax = 2;
  const int n = std::min(spread_n_, int(spread_.size()));
  if (n < kMinSeen) return 1;
  std::array<double, 8> s = spread_;
  std::sort(s.begin(), s.begin() + n);
  return std::clamp(s[size_t(0.75 * (n - 1) + 0.5)], 1.0, kMax);  // the nearest rank
}

void LatencyModel::observe(const Phases& predicted, const Phases& measured) {
  idle_ = 0;
  // The whole request's ratio, over the phases measured, against the prediction it was planned by.
  double pred = 0, got = 0;
  for (auto [p, m] : {std::pair{predicted.vision, measured.vision}, std::pair{predicted.prefill, measured.prefill},
                      std::pair{predicted.decode, measured.decode}})
    if (p > 0 && m > 0) pred += p, got += m;
  if (pred > 0) spread_[size_t(spread_n_++ % int(spread_.size()))] = got / pred;
  const Phases k = correction();
  // Ratios against the uncorrected prediction, so each one stands on its own.
  auto fold = [](Ratios& r, double pred, double k_now, double got) {
    if (pred > 0 && got > 0) r.add(got / (pred / k_now));
  };
  fold(vision_, predicted.vision, k.vision, measured.vision);
  fold(prefill_, predicted.prefill, k.prefill, measured.prefill);
  fold(decode_, predicted.decode, k.decode, measured.decode);
}

}  // namespace adallava
