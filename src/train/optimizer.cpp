#include "train/optimizer.h"

#include <algorithm>
#include <cmath>

namespace adallava::train {

void AdamW::step(std::map<std::string, std::vector<float>>& params,
                 const std::map<std::string, std::vector<float>>& grads, double base_lr,
                 const std::function<double(const std::string&)>& lr_scale) {
  ++t_;
  const double bc1 = 1 - std::pow(c_.beta1, double(t_)), bc2 = 1 - std::pow(c_.beta2, double(t_));
  const float bc2_sqrt = float(std::sqrt(bc2));
  const float b1 = float(c_.beta1), b2 = float(c_.beta2), eps = float(c_.eps);
  for (auto& [name, p] : params) {
    auto it = grads.find(name);
    if (it == grads.end()) continue;
    const double lr = lr_scale ? base_lr * lr_scale(name) : base_lr;
    const float step_size = float(lr / bc1), decay = float(1 - lr * c_.weight_decay);
    const std::vector<float>& g = it->second;
    std::vector<float>& m = m_[name];
    std::vector<float>& v = v_[name];
    if (m.empty()) m.assign(p.size(), 0.f), v.assign(p.size(), 0.f);
    for (size_t i = 0; i < p.size(); ++i) {
      p[i] *= decay;  // decoupled weight decay first, as torch.optim.AdamW
      m[i] = b1 * m[i] + (1 - b1) * g[i];
      v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
      p[i] -= step_size * m[i] / (std::sqrt(v[i]) / bc2_sqrt + eps);
    }
  }
}

double cosine_lr(double peak, int64_t step, int64_t warmup, int64_t total) {
  if (step < warmup) return peak * double(step) / double(std::max<int64_t>(1, warmup));
  const double progress = double(step - warmup) / double(std::max<int64_t>(1, total - warmup));
  return peak * std::max(0.0, 0.5 * (1.0 + std::cos(M_PI * progress)));
}

double clip_grad_norm(std::map<std::string, std::vector<float>>& grads, double max_norm) {
  double ss = 0;
  for (const auto& [name, g] : grads)
    for (float x : g) ss += double(x) * double(x);
  const double norm = std::sqrt(ss), coef = max_norm / (norm + 1e-6);
  if (coef < 1)
    for (auto& [name, g] : grads)
      for (float& x : g) x = float(x * coef);
  return norm;
}

}  // namespace adallava::train
