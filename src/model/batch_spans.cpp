#include "model/batch_spans.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>
#include <string>

#include "tensor/error.h"

namespace adallava {

double ProductCost::seconds(double calls, double bytes, double macs) const {
  return calls * per_call_s + std::max(bytes * per_byte_s, macs * per_mac_s);
}

namespace {
std::atomic<SpanMode> g_mode{SpanMode::Measured};
std::atomic<double> g_batched_bytes{0};

// A maximal run of units that the same requests run (requests 0: a gap nobody runs).
struct Run {
  int first, count;
  RequestSet requests;
};

std::vector<Run> runs_of(const std::vector<RequestSet>& by_unit) {
  std::vector<Run> out;
  for (int u = 0; u < int(by_unit.size());) {
    int e = u + 1;
    while (e < int(by_unit.size()) && by_unit[size_t(e)] == by_unit[size_t(u)]) ++e;
    out.push_back({u, e - u, by_unit[size_t(u)]});
    u = e;
  }
  return out;
}

// Runs [i, j] as one span.
Span merged(const std::vector<Run>& runs, size_t i, size_t j) {
  Span s{runs[i].first, runs[j].first + runs[j].count - runs[i].first, 0, true};
  for (size_t k = i; k <= j; ++k) s.requests |= runs[k].requests;
  for (size_t k = i; k <= j; ++k) s.exact = s.exact && runs[k].requests == s.requests;
  return s;
}

double rows_of(RequestSet m, const std::vector<int64_t>& rows) {
  double n = 0;
  for (size_t r = 0; r < rows.size(); ++r)
    if ((m >> r) & 1) n += double(rows[r]);
  return n;
}

double seconds_now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// The fastest of three timed calls of f, after one to warm the caches and the threads.
template <class F>
double best_time(F f) {
  f();
  double best = std::numeric_limits<double>::max();
  for (int i = 0; i < 3; ++i) {
    const double t0 = seconds_now();
    f();
    best = std::min(best, seconds_now() - t0);
  }
  return best;
}

ProductCost measure(const std::vector<WeightView>& Ws, Precision p) {
  constexpr int kRows = 64, kPieces = 8;
  const WeightView& W0 = Ws.front();
  std::vector<float> x(size_t(kRows * W0.cols)), y(size_t(kRows * W0.rows));
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(int(i % 17) - 8) / 16.f;
  size_t turn = 0;  // each timed call takes the next matrix, so none is in cache from the last
  auto next = [&] { return Ws[turn++ % Ws.size()]; };
  const double one = best_time([&] { matmul(y.data(), W0.rows, x.data(), W0.cols, 1, next(), nullptr, p); });
  const double pieces = best_time([&] {
    const WeightView W = next();
    for (int i = 0; i < kPieces; ++i) {
      const int64_t r0 = W.rows * i / kPieces, r1 = W.rows * (i + 1) / kPieces;
      matmul(y.data() + r0, W.rows, x.data(), W.cols, 1, W.row_block(r0, r1 - r0), nullptr, p);
    }
  });
  const double many = best_time([&] { matmul(y.data(), W0.rows, x.data(), W0.cols, kRows, next(), nullptr, p); });
  ProductCost c;
  c.per_call_s = std::max(0.0, (pieces - one) / (kPieces - 1));
  c.per_byte_s = std::max(1e-15, (one - c.per_call_s) / weight_view_bytes(W0));
  c.per_mac_s = std::max(1e-15, (many - c.per_call_s) / (double(kRows) * double(W0.rows) * double(W0.cols)));
  return c;
}
}  // namespace

double weight_view_bytes(const WeightView& W) {
  return is_quantized(W.dtype) ? double(row_bytes(W.dtype, W.cols)) * double(W.rows)
                               : double(W.rows) * double(W.cols) * double(dtype_size(W.dtype));
}

void count_batched_bytes(double bytes) { g_batched_bytes.fetch_add(bytes, std::memory_order_relaxed); }
double batched_bytes() { return g_batched_bytes.load(std::memory_order_relaxed); }

void set_span_mode(SpanMode m) { g_mode = m; }
SpanMode span_mode() { return g_mode; }

SpanMode parse_span_mode(const char* name) {
  const std::string s = name;
  if (s == "measured") return SpanMode::Measured;
  if (s == "split") return SpanMode::Split;
  if (s == "mask") return SpanMode::Mask;
  throw Error("span mode '" + s + "' is not one of measured, split, mask");
}

const char* span_mode_name(SpanMode m) {
  return m == SpanMode::Split ? "split" : m == SpanMode::Mask ? "mask" : "measured";
}

std::vector<Span> plan_spans(const std::vector<RequestSet>& by_unit, const std::vector<int64_t>& rows,
                             const PartShape& shape, const std::function<ProductCost()>& cost, SpanMode mode) {
  const std::vector<Run> runs = runs_of(by_unit);
  std::vector<size_t> used;  // the runs some request runs
  for (size_t i = 0; i < runs.size(); ++i)
    if (runs[i].requests) used.push_back(i);
  if (used.empty()) return {};
  if (mode == SpanMode::Mask) return {merged(runs, used.front(), used.back())};
  std::vector<Span> out;
  if (mode == SpanMode::Split) {
    for (size_t i : used) out.push_back(merged(runs, i, i));
    return out;
  }
  if (used.size() == 1) return {merged(runs, used[0], used[0])};
  const ProductCost measured = cost();
  // Cheapest cut: best[j] is the cost of runs [0, j); a span is runs [i, j - 1] for some i.
  const size_t n = runs.size();
  std::vector<double> best(n + 1, 0);
  std::vector<size_t> from(n + 1, 0);
  for (size_t j = 1; j <= n; ++j) {
    best[j] = std::numeric_limits<double>::max();
    if (!runs[j - 1].requests) best[j] = best[j - 1], from[j] = j;  // a gap on its own: nothing
    RequestSet m = 0;
    double units = 0;
    for (size_t i = j; i-- > 0;) {
      m |= runs[i].requests;
      units += runs[i].count;
      if (!m || !runs[i].requests) continue;  // a span starts on a unit someone runs
      const double c = best[i] + measured.seconds(shape.products, units * shape.unit_bytes,
                                              rows_of(m, rows) * units * shape.unit_macs);
      if (c < best[j]) best[j] = c, from[j] = i;
    }
  }
  for (size_t j = n; j > 0; j = from[j] == j ? j - 1 : from[j])
    if (from[j] != j) out.push_back(merged(runs, from[j], j - 1));
  std::reverse(out.begin(), out.end());
  return out;
}

ProductCost measured_product_cost(const std::vector<WeightView>& Ws, Precision p) {
  if (Ws.empty()) throw Error("internal: no matrix to time products with");
  static std::mutex mu;
  static std::map<std::pair<const void*, int>, ProductCost> fitted;
  std::lock_guard<std::mutex> lock(mu);
  const auto key = std::make_pair(Ws.front().data, int(p));
  auto it = fitted.find(key);
  if (it == fitted.end()) it = fitted.emplace(key, measure(Ws, p)).first;
  return it->second;
}

}  // namespace adallava
