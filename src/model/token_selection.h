// Which image tokens a request keeps. PruMerge and PruMerge+ (the AdaLLaVA authors'
// `token_selecting`) choose and merge CLIP patch features before the projector
// (model/prumerge.h); FastV drops the image rows the last text token attends to least inside
// the decoder, from layer K on (generate/session.h). docs/token-selection.md has the details.
#pragma once
#include <string>

namespace adallava {

struct TokenSelection {
  enum Kind { None, PruMerge, PruMergePlus, FastV } kind = None;
  int fastv_k = 2;         // FastV: the attention map of layer K-1 ranks; rows drop from layer K on
  double fastv_r = 0.5;    // FastV: the share of image rows dropped

  // "none", "prumerge", "prumerge+", "fastv" or "fastv:K,R" (K >= 1, 0 <= R < 1). Throws Error.
  static TokenSelection parse(const std::string& text);
  // The config field `token_selecting` of AdaLLaVA checkpoints: none, prumerge, prumerge+.
  static TokenSelection from_config(const std::string& value, const std::string& config_path);
  std::string name() const;
  bool merges_patches() const { return kind == PruMerge || kind == PruMergePlus; }
};

}  // namespace adallava
