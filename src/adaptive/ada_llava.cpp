#include "adaptive/ada_llava.h"

namespace adallava {

AdaLlavaParts AdaLlavaParts::load(const TensorStore& store, const ModelConfig& cfg) {
  AdaLlavaParts p;
  p.config = parse_ada_config(cfg);
  const int H = cfg.text.hidden_size;
  const std::string encoder = store.has("scheduler.scheduler_up_proj.net.0.weight") ? "scheduler.scheduler_up_proj.net."
                                                                                    : "scheduler_up_proj.net.";
  p.encoder = LatencyEncoder::load(store, encoder, H, p.config);
  p.scheduler = Scheduler::load(store, "scheduler.mlp_head", H, cfg.text.num_heads, p.config);
  return p;
}

}  // namespace adallava
