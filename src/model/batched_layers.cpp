#include "model/batched_layers.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "kernels/attention.h"
#include "kernels/ops.h"
#include "model/batch_spans.h"
#include "model/llama_decoder.h"
#include "tensor/error.h"

namespace adallava {

namespace {

bool has(RequestSet m, size_t r) { return (m >> r) & 1; }

// The batch: requests' rows stacked (request r's rows are [row0[r], row0[r] + T) of the stack),
// and per request where its rows live in a per-request buffer (q, k, v, att: widths differ).
struct Batch {
  const std::vector<RequestRows>& req;
  std::vector<int64_t> row0, T;
  int64_t rows = 0;
  RequestSet all = 0;  // every request

  explicit Batch(const std::vector<RequestRows>& r) : req(r) {
    for (const RequestRows& x : r) {
      all |= RequestSet(1) << row0.size();
      row0.push_back(rows);
      T.push_back(x.T);
      rows += x.T;
    }
  }
  int64_t rows_of(RequestSet m) const {
    int64_t n = 0;
    for (size_t r = 0; r < req.size(); ++r)
      if (has(m, r)) n += req[r].T;
    return n;
  }
};

struct Scratch {
  std::vector<float> xn, in, out, y, q, k, v, att, act;
};
Scratch& scratch() {
  thread_local Scratch s;
  return s;
}
float* sized(std::vector<float>& v, int64_t n) {
  if (v.size() < size_t(n)) v.resize(size_t(n));
  return v.data();
}

// y = x · Wᵀ (+= with accumulate) for one span, its weight bytes counted.
void product(float* y, int64_t ldy, const float* x, int64_t ldx, int64_t M, const WeightView& W, Precision p,
             bool accumulate = false) {
  count_batched_bytes(weight_view_bytes(W));
  matmul(y, ldy, x, ldx, M, W, nullptr, p, accumulate);
}

// The rows of the requests in m of a stacked (b.rows, width) buffer, packed in request order
// (the buffer itself when m is every request).
const float* packed_rows(const Batch& b, RequestSet m, const float* stacked, int64_t width, std::vector<float>& buf) {
  if (m == b.all) return stacked;
  float* out = sized(buf, b.rows_of(m) * width);
  int64_t i = 0;
  for (size_t r = 0; r < b.req.size(); ++r)
    if (has(m, r)) {
      std::memcpy(out + i * width, stacked + b.row0[r] * width, size_t(b.T[r] * width) * 4);
      i += b.T[r];
    }
  return out;
}

// X rows of the requests in m += in · Wᵀ, where `in` holds their rows packed in request order.
void add_product(const Batch& b, RequestSet m, const float* in, const WeightView& W, Precision p, float* X) {
  const int64_t H = W.rows;
  if (m == b.all) return product(X, H, in, W.cols, b.rows, W, p, /*accumulate=*/true);
  float* y = const_cast<float*>(packed_rows(b, m, X, H, scratch().y));
  product(y, H, in, W.cols, b.rows_of(m), W, p, /*accumulate=*/true);
  int64_t i = 0;
  for (size_t r = 0; r < b.req.size(); ++r)
    if (has(m, r)) {
      std::memcpy(X + b.row0[r] * H, y + i * H, size_t(b.T[r] * H) * 4);
      i += b.T[r];
    }
}

// For each row of each request in span s, each unit u of the span: dense unit u - s.first of
// its packed row (unit_width floats per unit) <-> slot[r][u] of its own row (-1: the request does
// not run u). to_dense fills the units a request skips with zeros; from_dense drops them.
template <class RowOf>
void move_units(const Batch& b, const Span& s, float* dense, int64_t unit_width,
                const std::vector<std::vector<int>>& slot, RowOf row_of, bool to_dense) {
  const int64_t width = s.count * unit_width;
  int64_t i = 0;
  for (size_t r = 0; r < b.req.size(); ++r) {
    if (!has(s.requests, r)) continue;
    for (int64_t t = 0; t < b.T[r]; ++t, ++i) {
      float* d = dense + i * width;
      float* own = row_of(r, t);
      for (int u = s.first; u < s.first + s.count; ++u) {
        const int k = slot[r][size_t(u)];
        float* du = d + (u - s.first) * unit_width;
        if (k < 0) {
          if (to_dense) std::memset(du, 0, size_t(unit_width) * 4);
        } else if (to_dense) {
          std::memcpy(du, own + k * unit_width, size_t(unit_width) * 4);
        } else {
          std::memcpy(own + k * unit_width, du, size_t(unit_width) * 4);
        }
      }
    }
  }
}

void norm_rows(const Batch& b, RequestSet mask, float* xn, const float* X, const std::vector<float>& w, const TextConfig& c) {
  const int64_t H = c.hidden_size;
  for (size_t r = 0; r < b.req.size(); ++r)
    if (has(mask, r)) rms_norm(xn + b.row0[r] * H, X + b.row0[r] * H, w.data(), b.req[r].T, H, c.rms_norm_eps);
}

// Per request: each unit's position in its plan's list of units (-1 where off), and the set of
// requests that run each unit.
struct UnitSlots {
  std::vector<std::vector<int>> slot;  // [request][unit]
  std::vector<RequestSet> by_unit;
};

template <class UnitsOf>
UnitSlots unit_slots(const Batch& b, int n_units, UnitsOf units_of) {
  UnitSlots u;
  u.by_unit.assign(size_t(n_units), 0);
  for (size_t r = 0; r < b.req.size(); ++r) {
    std::vector<int> slot(size_t(n_units), -1);
    const std::vector<int>& on = units_of(b.req[r]);
    for (size_t i = 0; i < on.size(); ++i) {
      slot[size_t(on[i])] = int(i);
      u.by_unit[size_t(on[i])] |= RequestSet(1) << r;
    }
    u.slot.push_back(std::move(slot));
  }
  return u;
}

RequestSet union_of(const std::vector<Span>& spans) {
  RequestSet m = 0;
  for (const Span& s : spans) m |= s.requests;
  return m;
}

// Spans of units by the process-wide mode. Zeros in an 8-bit activation block would change the
// block's scale and so a request's numbers: quantized weights are always split.
std::vector<Span> spans_for(const LlamaDecoder& d, const Batch& b, const UnitSlots& u, const PartShape& shape,
                            DType dtype, Precision p) {
  const SpanMode mode = is_quantized(dtype) ? SpanMode::Split : span_mode();
  return plan_spans(u.by_unit, b.T, shape, [&] { return batched_product_cost(d, p); }, mode);
}

double weight_elem_bytes(const WeightView& W) { return is_quantized(W.dtype) ? 1.0 : double(dtype_size(W.dtype)); }

void attention_spans(const LlamaDecoder& d, int l, const Batch& b, float* X, Precision p) {
  const TextConfig& c = d.config();
  const LlamaLayer& L = d.layer(l);
  const int64_t H = c.hidden_size, hd = c.head_dim;
  const UnitSlots u = unit_slots(b, c.num_heads, [l](const RequestRows& r) -> const std::vector<int>& {
    return r.plan->layer(l).heads;
  });
  const double unit = double(hd * H);
  const std::vector<Span> spans =
      spans_for(d, b, u, {4, 4 * unit * weight_elem_bytes(L.q.w), 4 * unit}, L.q.w.dtype, p);
  if (spans.empty()) return;
  // Per request: its q/att and k/v row widths (its heads only) and where its rows start.
  std::vector<int64_t> qd, kvd, qoff, kvoff;
  int64_t q_total = 0, kv_total = 0;
  for (const RequestRows& r : b.req) {
    const LayerPlan& lp = r.plan->layer(l);
    qd.push_back(int64_t(lp.heads.size()) * hd);
    kvd.push_back(int64_t(kv_heads_for(lp, c.num_heads, c.num_kv_heads)) * hd);
    qoff.push_back(q_total);
    kvoff.push_back(kv_total);
    q_total += r.T * qd.back();
    kv_total += r.T * kvd.back();
  }
  Scratch& sc = scratch();
  float* xn = sized(sc.xn, b.rows * H);
  float* q = sized(sc.q, q_total);
  float* k = sized(sc.k, kv_total);
  float* v = sized(sc.v, kv_total);
  float* att = sized(sc.att, q_total);
  const RequestSet any = union_of(spans);  // the requests that run some head of this layer
  norm_rows(b, any, xn, X, L.attn_norm, c);
  // With grouped KV heads every request runs all heads (check_plan): one exact span, and its
  // K/V are all the KV heads, one slot of num_kv_heads * hd per row.
  const bool gqa = c.num_kv_heads != c.num_heads;
  const std::vector<std::vector<int>> kv_slot(b.req.size(), std::vector<int>{0});
  for (const Span& s : spans) {
    const int64_t R = b.rows_of(s.requests), width = s.count * hd;
    const float* in = packed_rows(b, s.requests, xn, H, sc.in);
    float* out = sized(sc.out, R * std::max(width, c.num_kv_heads * hd));
    product(out, width, in, H, R, L.q.w.row_block(s.first * hd, width), p);
    move_units(b, s, out, hd, u.slot, [&](size_t r, int64_t t) { return q + qoff[r] + t * qd[r]; }, false);
    for (const auto& part : {std::pair{&L.k.w, k}, std::pair{&L.v.w, v}}) {
      float* buf = part.second;
      auto row_of = [&, buf](size_t r, int64_t t) { return buf + kvoff[r] + t * kvd[r]; };
      if (gqa) {
        const Span all_kv{0, 1, s.requests, true};
        product(out, c.num_kv_heads * hd, in, H, R, *part.first, p);
        move_units(b, all_kv, out, c.num_kv_heads * hd, kv_slot, row_of, false);
      } else {
        product(out, width, in, H, R, part.first->row_block(s.first * hd, width), p);
        move_units(b, s, out, hd, u.slot, row_of, false);
      }
    }
  }
  const float scale = 1.f / std::sqrt(float(hd));
  for (size_t r = 0; r < b.req.size(); ++r) {
    if (!has(any, r)) continue;
    const RequestRows& rq = b.req[r];
    const int na = int(qd[r] / hd), nkv = int(kvd[r] / hd);
    float *qr = q + qoff[r], *kr = k + kvoff[r], *vr = v + kvoff[r];
    rope_apply(qr, qd[r], rq.T, na, int(hd), rq.positions, d.inv_freq(), c.rope_adjacent_pairs);
    rope_apply(kr, kvd[r], rq.T, nkv, int(hd), rq.positions, d.inv_freq(), c.rope_adjacent_pairs);
    const KvView kv = rq.cache->layer(l);
    const int64_t past = rq.cache->rows(l);
    kv_store(kv, kr, kvd[r], vr, kvd[r], rq.T, past);
    attention(att + qoff[r], qd[r], qr, qd[r], rq.T, past, na, kv, scale, /*causal=*/true);
  }
  for (const Span& s : spans) {
    float* in = sized(sc.act, b.rows_of(s.requests) * s.count * hd);
    move_units(b, s, in, hd, u.slot, [&](size_t r, int64_t t) { return att + qoff[r] + t * qd[r]; }, true);
    add_product(b, s.requests, in, L.o.w.col_block(s.first * hd, s.count * hd), p, X);
  }
}

void mlp_spans(const LlamaDecoder& d, int l, const Batch& b, float* X, Precision p) {
  const TextConfig& c = d.config();
  const LlamaLayer& L = d.layer(l);
  const int64_t H = c.hidden_size, I = c.intermediate_size;
  const UnitSlots u = unit_slots(b, c.num_heads, [l](const RequestRows& r) -> const std::vector<int>& {
    return r.plan->layer(l).mlp_groups;
  });
  const double unit = double(I) / c.num_heads * double(H);
  const std::vector<Span> spans = spans_for(d, b, u, {3, 3 * unit * weight_elem_bytes(L.gate.w), 3 * unit}, L.gate.w.dtype, p);
  if (spans.empty()) return;
  Scratch& sc = scratch();
  float* xn = sized(sc.xn, b.rows * H);
  norm_rows(b, union_of(spans), xn, X, L.mlp_norm, c);
  for (const Span& s : spans) {
    const int64_t n0 = mlp_group_range(I, c.num_heads, s.first).first;
    const int64_t n = mlp_group_range(I, c.num_heads, s.first + s.count - 1).second - n0;
    const int64_t R = b.rows_of(s.requests);
    const float* in = packed_rows(b, s.requests, xn, H, sc.in);
    float* act = sized(sc.act, 2 * R * n);  // gate rows, then up rows
    product(act, n, in, H, R, L.gate.w.row_block(n0, n), p);
    product(act + R * n, n, in, H, R, L.up.w.row_block(n0, n), p);
    swiglu(act, act + R * n, R * n);
    if (!s.exact) {  // masked: the neurons of groups a request skips contribute nothing
      int64_t i = 0;
      for (size_t r = 0; r < b.req.size(); ++r) {
        if (!has(s.requests, r)) continue;
        for (int g = s.first; g < s.first + s.count; ++g) {
          if (u.slot[r][size_t(g)] >= 0) continue;
          const auto [g0, g1] = mlp_group_range(I, c.num_heads, g);
          for (int64_t t = 0; t < b.T[r]; ++t) std::memset(act + (i + t) * n + (g0 - n0), 0, size_t(g1 - g0) * 4);
        }
        i += b.T[r];
      }
    }
    add_product(b, s.requests, act, L.down.w.col_block(n0, n), p, X);
  }
}

}  // namespace

ProductCost batched_product_cost(const LlamaDecoder& d, Precision p) {
  std::vector<WeightView> q;
  for (int l = 0; l < std::min(d.config().num_layers, 8); ++l) q.push_back(d.layer(l).q.w);
  return measured_product_cost(q, p);
}

void run_layers_batched(const LlamaDecoder& d, const std::vector<RequestRows>& requests, int l0, int l1, Precision p) {
  if (requests.size() > size_t(kMaxBatch))
    throw Error("a batched step takes at most " + std::to_string(kMaxBatch) + " requests, not " +
                std::to_string(requests.size()));
  const TextConfig& c = d.config();
  const int64_t H = c.hidden_size;
  const Batch b(requests);
  for (const RequestRows& r : requests)
    if (r.cache->length() + r.T > r.cache->capacity())
      throw Error("sequence of " + std::to_string(r.cache->length() + r.T) +
                  " tokens exceeds the KV cache capacity " + std::to_string(r.cache->capacity()));
  std::vector<float> X(size_t(b.rows * H));
  for (size_t r = 0; r < requests.size(); ++r)
    std::memcpy(X.data() + b.row0[r] * H, requests[r].x, size_t(requests[r].T * H) * 4);
  for (int l = l0; l < l1; ++l) {
    for (const RequestRows& r : requests) {
      const LayerPlan& lp = r.plan->layer(l);
      if (lp.empty()) continue;
      d.check_plan(l, lp);
      if (r.cache->heads(l) != kv_heads_for(lp, c.num_heads, c.num_kv_heads))
        throw Error("internal: KV cache of layer " + std::to_string(l) + " does not match the plan");
    }
    attention_spans(d, l, b, X.data(), p);
    mlp_spans(d, l, b, X.data(), p);
  }
  for (size_t r = 0; r < requests.size(); ++r)
    std::memcpy(requests[r].x, X.data() + b.row0[r] * H, size_t(requests[r].T * H) * 4);
}

}  // namespace adallava
