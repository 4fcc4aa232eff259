// Several requests through the decoder's layers in one pass over the weights. Each request has
// its own rows (one decoded token, or a prompt chunk), positions, KV cache and execution plan.
// Per layer, the heads and MLP neuron groups are cut into spans (batch_spans.h): runs of units
// that the same requests run, each one product over exactly those requests' rows, or wider
// masked spans where fewer, larger products measure cheaper. A weight is read once per step
// whatever the mix of plans; a request's cache holds only its own units, and what it skips adds
// nothing to its rows. Row for row the arithmetic is a solo run's (the fixtures' tolerance; only
// the products' summation blocking can differ).
#pragma once
#include <cstdint>
#include <vector>

#include "kernels/matmul.h"
#include "model/batch_spans.h"
#include "model/execution_plan.h"
#include "model/kv_cache.h"

namespace adallava {

class LlamaDecoder;

struct RequestRows {
  float* x = nullptr;                  // (T, hidden), updated in place
  int64_t T = 0;
  const int64_t* positions = nullptr;  // T positions, following cache->length()'s cached rows
  KvCache* cache = nullptr;            // allocated for the plan over the layers run
  const ExecutionPlan* plan = nullptr;
};

// The most requests one batched step takes (slices are keyed by a 64-bit request set).
constexpr int kMaxBatch = 64;

// The product cost batched steps choose spans by: timed on the first layers' Q matrices in turn.
ProductCost batched_product_cost(const LlamaDecoder& d, Precision p);

// Runs layers [l0, l1) for every request, as LlamaDecoder::run_layers would one at a time.
// Does not advance the caches' lengths.
void run_layers_batched(const LlamaDecoder& d, const std::vector<RequestRows>& requests, int l0, int l1, Precision p);

}  // namespace adallava
