// Token selection against the full image on one model: the image rows the decoder keeps, the
// encode (with the selection's own work), and the prefill of an image request at one budget,
// each the fastest of a few runs, the two settings interleaved so drift hits both alike.
#pragma once
#include <nlohmann/json.hpp>

#include "llava/llava.h"

namespace adallava {

struct SelectionBenchOptions {
  TokenSelection selection;
  double budget = 1.0;
  int text_tokens = 24;  // the prompt's text rows around the image
  int repeats = 3;
  Precision precision = Precision::F32;
};

// {"token_selection", "budget", "image_tokens", "image_tokens_kept", "vision_ms_full",
//  "vision_ms_selected", "prefill_ms_full", "prefill_ms_selected", "prefill_ratio",
//  "prefill_gflops_full", "prefill_gflops_selected"}
nlohmann::json bench_token_selection(const LlavaModel& model, const SelectionBenchOptions& o);

}  // namespace adallava
