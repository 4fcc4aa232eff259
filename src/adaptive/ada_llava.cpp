#include "adaptive/ada_llava.h"

#include "model/tensor_names.h"

namespace adallava {

AdaLlavaParts AdaLlavaParts::load(const TensorStore& store, const ModelConfig& cfg) {
  AdaLlavaParts p;
  p.config = parse_ada_config(cfg);
  const int H = cfg.text.hidden_size;
  const bool current = store.has(names::kLatencyEncoder + std::string("0.weight"));
  p.encoder = LatencyEncoder::load(store, current ? names::kLatencyEncoder : names::kLatencyEncoderOld, H, p.config);
  p.scheduler = Scheduler::load(store, names::kSchedulerHead, H, cfg.text.num_heads, p.config);
  return p;
}

}  // namespace adallava
