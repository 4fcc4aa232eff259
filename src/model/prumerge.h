// PruMerge and PruMerge+ as the AdaLLaVA authors' code runs them (docs/token-selection.md):
// the CLS query of the vision tower's last layer ranks the patches; the IQR outliers of that
// attention are kept (PruMerge+ adds a spatial grid of samples), each kept patch absorbs its 32
// most key-similar others weighted by their CLS attention, and one extra row sums the rest.
//
// Where the authors' code would crash, this is defined (and documented): a grid other than
// 24x24 uses N-1 for their hard-coded 575 and min(32, N-1) neighbours; PruMerge+ with no
// outliers samples as if there were one, and with too many for its step samples every patch.
#pragma once
#include <cstdint>
#include <vector>

#include "io/hf_config.h"
#include "kernels/matmul.h"
#include "model/weights.h"

namespace adallava {

// What of the tower's last layer the selection reads: its first LayerNorm and the Q, K projections.
struct SelectionLayer {
  std::vector<float> ln_w, ln_b;
  Linear q, k;
};

// The selection's intermediate values, for tests and reports.
struct PruMergeTrace {
  std::vector<float> q, k;              // (N+1, C) the last layer's projections, CLS row 0
  std::vector<float> cls_attention;     // (N) the CLS query's softmax over all N+1 keys, CLS column dropped
  double q1 = 0, q3 = 0, upper = 0;     // quartiles and upper fence
  std::vector<int64_t> outliers;        // by descending attention
  std::vector<int64_t> samples;         // PruMerge+: grid points added, ascending
  std::vector<int64_t> kept;            // outliers then samples
  std::vector<int64_t> complement;      // the rest, ascending
  std::vector<int64_t> neighbours;      // (kept, k) patch indices, most similar first
  std::vector<float> neighbour_cos;     // (kept, k)
};

// input: the last layer's input (N+1, C), CLS row 0, whose Q and K rank and match the patches;
// features: LLaVA's feature layer (N+1, C), the rows that are kept and merged. For LLaVA's
// mm_vision_select_layer -2 (the authors' case) the two are the same hidden state. Returns the
// merged rows (kept + 1, C), before the projector.
std::vector<float> prumerge(const float* input, const float* features, int64_t n_patches, const VisionConfig& cfg,
                            const SelectionLayer& sel, bool plus, Precision p, PruMergeTrace* trace = nullptr);

}  // namespace adallava
