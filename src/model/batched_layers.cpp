#include "model/batched_layers.h"

#include <cmath>
#include <cstring>
#include <string>

#include "kernels/attention.h"
#include "kernels/ops.h"
#include "model/llama_decoder.h"
#include "tensor/error.h"

namespace adallava {

namespace {

using Mask = uint64_t;  // a set of requests, by their index in the batch

bool has(Mask m, size_t r) { return (m >> r) & 1; }

// Units [first, first + count) (heads, or MLP groups) that exactly the requests in `mask` run.
struct Slice {
  int first = 0, count = 0;
  Mask mask = 0;
};

// Units [0, n) cut into maximal runs run by the same requests; runs no request runs are left out.
std::vector<Slice> slices(int n, const std::vector<const std::vector<int>*>& units_of) {
  std::vector<Mask> by_unit(static_cast<size_t>(n), 0);
  for (size_t r = 0; r < units_of.size(); ++r)
    for (int u : *units_of[r]) by_unit[size_t(u)] |= Mask(1) << r;
  std::vector<Slice> out;
  for (int u = 0; u < n;) {
    int e = u + 1;
    while (e < n && by_unit[size_t(e)] == by_unit[size_t(u)]) ++e;
    if (by_unit[size_t(u)]) out.push_back({u, e - u, by_unit[size_t(u)]});
    u = e;
  }
  return out;
}

Mask union_of(const std::vector<Slice>& sl) {
  Mask m = 0;
  for (const Slice& s : sl) m |= s.mask;
  return m;
}

// A row-major buffer of `ld` floats per row.
struct Rows {
  float* base;
  int64_t ld;
  float* row(int64_t i) const { return base + i * ld; }
};

// The batch: requests' rows stacked (request r's rows are [row0[r], row0[r] + T) of the stack),
// and per request where its rows live in a per-request buffer (q, k, v, att: widths differ).
struct Batch {
  const std::vector<RequestRows>& req;
  std::vector<int64_t> row0;
  int64_t rows = 0;
  Mask all = 0;  // every request

  explicit Batch(const std::vector<RequestRows>& r) : req(r) {
    for (const RequestRows& x : r) {
      all |= Mask(1) << row0.size();
      row0.push_back(rows);
      rows += x.T;
    }
  }
  // Where each request's rows start among the rows of the requests in m, in request order.
  std::vector<int64_t> dense_rows(Mask m) const {
    std::vector<int64_t> first(req.size(), 0);
    int64_t n = 0;
    for (size_t r = 0; r < req.size(); ++r) {
      first[r] = n;
      if (has(m, r)) n += req[r].T;
    }
    return first;
  }
  int64_t rows_of(Mask m) const {
    int64_t n = 0;
    for (size_t r = 0; r < req.size(); ++r)
      if (has(m, r)) n += req[r].T;
    return n;
  }
};

// at(r, t): where row t of request r keeps the `width` columns a slice reads or writes.
// Gathers them into `dense` (rows of the requests in `mask`, in request order) or scatters back.
template <class At>
void move_rows(const Batch& b, Mask mask, float* dense, int64_t width, At at, bool scatter) {
  int64_t i = 0;
  for (size_t r = 0; r < b.req.size(); ++r) {
    if (!has(mask, r)) continue;
    for (int64_t t = 0; t < b.req[r].T; ++t, ++i) {
      if (scatter)
        std::memcpy(at(r, t), dense + i * width, size_t(width) * 4);
      else
        std::memcpy(dense + i * width, at(r, t), size_t(width) * 4);
    }
  }
}

struct Scratch {
  std::vector<float> xn, in, out, q, k, v, att, act;
};
Scratch& scratch() {
  thread_local Scratch s;
  return s;
}
float* sized(std::vector<float>& v, int64_t n) {
  if (v.size() < size_t(n)) v.resize(size_t(n));
  return v.data();
}

// One slice's product over the rows of the requests in `mask`: out (+)= in · Wᵀ, where in(r, t)
// and out(r, t) locate the operands' rows. in_dense / out_dense, when given, already hold the
// slice's rows packed (R, W.cols) / (R, W.rows) in request order: nothing is copied for them.
template <class In, class Out>
void slice_product(const Batch& b, Mask mask, const WeightView& W, Precision p, bool accumulate, In in,
                   const float* in_dense, Out out, float* out_dense) {
  Scratch& sc = scratch();
  const int64_t R = b.rows_of(mask);
  const float* x = in_dense;
  if (!x) {
    float* packed = sized(sc.in, R * W.cols);
    move_rows(b, mask, packed, W.cols, in, false);
    x = packed;
  }
  float* y = out_dense ? out_dense : sized(sc.out, R * W.rows);
  if (accumulate && !out_dense) move_rows(b, mask, y, W.rows, out, false);
  matmul(y, W.rows, x, W.cols, R, W, nullptr, p, accumulate);
  if (!out_dense) move_rows(b, mask, y, W.rows, out, true);
}

void norm_rows(const Batch& b, Mask mask, float* xn, const float* X, const std::vector<float>& w, const TextConfig& c) {
  const int64_t H = c.hidden_size;
  for (size_t r = 0; r < b.req.size(); ++r)
    if (has(mask, r)) rms_norm(xn + b.row0[r] * H, X + b.row0[r] * H, w.data(), b.req[r].T, H, c.rms_norm_eps);
}

// Per request: each head's position in its plan's head list (its q/att columns and cache heads).
struct HeadLayout {
  std::vector<std::vector<int>> slot;  // [request][head] -> position, -1 where off
  std::vector<int64_t> qd, kvd;        // its q/att and k/v row widths
  std::vector<int64_t> qoff, kvoff;    // where its rows start in the shared q/att and k/v buffers
  int64_t q_total = 0, kv_total = 0;
};

HeadLayout head_layout(const Batch& b, int l, const TextConfig& c) {
  HeadLayout h;
  for (const RequestRows& r : b.req) {
    const LayerPlan& lp = r.plan->layer(l);
    std::vector<int> slot(static_cast<size_t>(c.num_heads), -1);
    for (size_t i = 0; i < lp.heads.size(); ++i) slot[size_t(lp.heads[i])] = int(i);
    h.slot.push_back(std::move(slot));
    h.qd.push_back(int64_t(lp.heads.size()) * c.head_dim);
    h.kvd.push_back(int64_t(kv_heads_for(lp, c.num_heads, c.num_kv_heads)) * c.head_dim);
    h.qoff.push_back(h.q_total);
    h.kvoff.push_back(h.kv_total);
    h.q_total += r.T * h.qd.back();
    h.kv_total += r.T * h.kvd.back();
  }
  return h;
}

void attention_slices(const LlamaDecoder& d, int l, const Batch& b, float* X, Precision p) {
  const TextConfig& c = d.config();
  const LlamaLayer& L = d.layer(l);
  const int64_t H = c.hidden_size, hd = c.head_dim;
  std::vector<const std::vector<int>*> heads;
  for (const RequestRows& r : b.req) heads.push_back(&r.plan->layer(l).heads);
  const std::vector<Slice> sl = slices(c.num_heads, heads);
  if (sl.empty()) return;
  Scratch& sc = scratch();
  const HeadLayout h = head_layout(b, l, c);
  float* xn = sized(sc.xn, b.rows * H);
  float* q = sized(sc.q, h.q_total);
  float* k = sized(sc.k, h.kv_total);
  float* v = sized(sc.v, h.kv_total);
  float* att = sized(sc.att, h.q_total);
  const Mask any = union_of(sl);  // the requests that run some head of this layer
  norm_rows(b, any, xn, X, L.attn_norm, c);
  // With grouped KV heads every request runs all heads (check_plan), so there is one slice and
  // its K/V are all the KV heads.
  const bool gqa = c.num_kv_heads != c.num_heads;
  auto stacked = [&](float* base) { return [&b, base, H](size_t r, int64_t t) { return base + (b.row0[r] + t) * H; }; };
  for (const Slice& s : sl) {
    auto col = [&](size_t r) { return int64_t(h.slot[r][size_t(s.first)]) * hd; };
    auto q_at = [&](size_t r, int64_t t) { return q + h.qoff[r] + t * h.qd[r] + col(r); };
    const float* xn_dense = s.mask == b.all ? xn : nullptr;  // every request: the stack as it is
    slice_product(b, s.mask, L.q.w.row_block(s.first * hd, s.count * hd), p, false, stacked(xn), xn_dense, q_at,
                  nullptr);
    const int64_t kv0 = gqa ? 0 : s.first, nkv = gqa ? c.num_kv_heads : s.count;
    for (const auto& part : {std::pair{&L.k.w, k}, std::pair{&L.v.w, v}}) {
      const auto* W = part.first;
      float* buf = part.second;
      auto kv_at = [&, buf](size_t r, int64_t t) { return buf + h.kvoff[r] + t * h.kvd[r] + (gqa ? 0 : col(r)); };
      slice_product(b, s.mask, W->row_block(kv0 * hd, nkv * hd), p, false, stacked(xn), xn_dense, kv_at, nullptr);
    }
  }
  const float scale = 1.f / std::sqrt(float(hd));
  for (size_t r = 0; r < b.req.size(); ++r) {
    if (!has(any, r)) continue;
    const RequestRows& rq = b.req[r];
    const int na = int(h.qd[r] / hd), nkv = int(h.kvd[r] / hd);
    float *qr = q + h.qoff[r], *kr = k + h.kvoff[r], *vr = v + h.kvoff[r];
    rope_apply(qr, h.qd[r], rq.T, na, int(hd), rq.positions, d.inv_freq(), c.rope_adjacent_pairs);
    rope_apply(kr, h.kvd[r], rq.T, nkv, int(hd), rq.positions, d.inv_freq(), c.rope_adjacent_pairs);
    const KvView kv = rq.cache->layer(l);
    const int64_t past = rq.cache->rows(l);
    kv_store(kv, kr, h.kvd[r], vr, h.kvd[r], rq.T, past);
    attention(att + h.qoff[r], h.qd[r], qr, h.qd[r], rq.T, past, na, kv, scale, /*causal=*/true);
  }
  for (const Slice& s : sl) {
    auto att_at = [&](size_t r, int64_t t) { return att + h.qoff[r] + t * h.qd[r] + int64_t(h.slot[r][size_t(s.first)]) * hd; };
    slice_product(b, s.mask, L.o.w.col_block(s.first * hd, s.count * hd), p, true, att_at, nullptr, stacked(X),
                  s.mask == b.all ? X : nullptr);
  }
}

void mlp_slices(const LlamaDecoder& d, int l, const Batch& b, float* X, Precision p) {
  const TextConfig& c = d.config();
  const LlamaLayer& L = d.layer(l);
  const int64_t H = c.hidden_size, I = c.intermediate_size;
  std::vector<const std::vector<int>*> groups;
  for (const RequestRows& r : b.req) groups.push_back(&r.plan->layer(l).mlp_groups);
  const std::vector<Slice> sl = slices(c.num_heads, groups);
  if (sl.empty()) return;
  Scratch& sc = scratch();
  float* xn = sized(sc.xn, b.rows * H);
  norm_rows(b, union_of(sl), xn, X, L.mlp_norm, c);
  auto stacked = [&](float* base) { return [&b, base, H](size_t r, int64_t t) { return base + (b.row0[r] + t) * H; }; };
  for (const Slice& s : sl) {
    const int64_t n0 = mlp_group_range(I, c.num_heads, s.first).first;
    const int64_t n = mlp_group_range(I, c.num_heads, s.first + s.count - 1).second - n0;
    const int64_t R = b.rows_of(s.mask);
    float* act = sized(sc.act, 2 * R * n);  // gate rows, then up rows
    // The slice's rows in request order: request r's start at dense row first[r].
    const std::vector<int64_t> first = b.dense_rows(s.mask);
    auto dense = [&first, n](float* base) { return [&first, base, n](size_t r, int64_t t) { return base + (first[r] + t) * n; }; };
    const float* xn_dense = s.mask == b.all ? xn : nullptr;
    slice_product(b, s.mask, L.gate.w.row_block(n0, n), p, false, stacked(xn), xn_dense, dense(act), act);
    slice_product(b, s.mask, L.up.w.row_block(n0, n), p, false, stacked(xn), xn_dense, dense(act + R * n), act + R * n);
    swiglu(act, act + R * n, R * n);
    slice_product(b, s.mask, L.down.w.col_block(n0, n), p, true, dense(act), act, stacked(X),
                  s.mask == b.all ? X : nullptr);
  }
}

}  // namespace

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
    attention_slices(d, l, b, X.data(), p);
    mlp_slices(d, l, b, X.data(), p);
  }
  for (size_t r = 0; r < requests.size(); ++r)
    std::memcpy(requests[r].x, X.data() + b.row0[r] * H, size_t(requests[r].T * H) * 4);
}

}  // namespace adallava
