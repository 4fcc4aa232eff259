// How a batched step cuts one layer's heads (or MLP neuron groups) into products, when the
// requests in the step run different subsets of them. Two ways, and any mix of the two:
//   split: one product per run of units that exactly the same requests run (a "slice"); no
//          request computes a unit it skips, but a fragmented layer costs many small products;
//   mask:  one product over a wider span, for every request that runs any unit of it; the
//          outputs of units a request skips are dropped, and its inputs to the second product
//          (attention output, MLP activations) are zeros there.
// The choice is the cheapest by a cost per product measured on this CPU (ProductCost).
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "kernels/matmul.h"

namespace adallava {

using RequestSet = uint64_t;  // requests by their index in the batch (at most 64)

struct Span {
  int first = 0, count = 0;  // units [first, first + count)
  RequestSet requests = 0;   // whose rows the span's products take
  bool exact = true;         // every one of them runs every unit of the span
};

// The measured time of one product y = x · Wᵀ: a fixed cost per call (dispatch, threads'
// barrier, packing), and then whichever bounds it, reading the weights or the arithmetic.
struct ProductCost {
  double per_call_s = 0, per_byte_s = 0, per_mac_s = 0;
  double seconds(double calls, double bytes, double macs) const;
};

// The shape of one layer part: `products` products per span (q, k, v, o: 4; gate, up, down: 3),
// which together read `unit_bytes` of weights and do `unit_macs` multiply-adds per row per unit.
struct PartShape {
  int products = 1;
  double unit_bytes = 0, unit_macs = 0;
};

enum class SpanMode { Measured, Split, Mask };
// The process-wide choice (bench --spans, tests); Measured unless set.
void set_span_mode(SpanMode m);
SpanMode span_mode();
SpanMode parse_span_mode(const char* name);  // "measured" | "split" | "mask"; throws otherwise
const char* span_mode_name(SpanMode m);

// by_unit[u]: the requests that run unit u; rows[r]: request r's rows in the step. Returns the
// spans to compute, in unit order, covering every unit some request runs: Split gives the
// slices, Mask one span from the first such unit to the last, Measured the cheapest cut by
// cost() (called only when there is a choice; units no request runs cost their bytes when a
// span covers them).
std::vector<Span> plan_spans(const std::vector<RequestSet>& by_unit, const std::vector<int64_t>& rows,
                             const PartShape& shape, const std::function<ProductCost()>& cost, SpanMode mode);

// Bytes of the weight block W (quantized: whole blocks).
double weight_view_bytes(const WeightView& W);

// Weight bytes read by the layer products of every batched step so far (gaps a masked span
// covers included): the benchmark's bytes per generated token. Thread-safe.
void count_batched_bytes(double bytes);
double batched_bytes();

// Times products on this CPU at `p` (one row, one row in eight pieces, 64 rows) with the
// matrices Ws in turn (several layers' copies of one matrix: together larger than the caches,
// so that reading is timed from memory as a decode step reads it) and fits a ProductCost. The
// first call per (Ws[0].data, p) measures (tens of ms at the 7B shape), later ones return the
// cached fit. Thread-safe.
ProductCost measured_product_cost(const std::vector<WeightView>& Ws, Precision p);

}  // namespace adallava
