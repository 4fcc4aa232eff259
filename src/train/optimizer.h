// AdamW (decoupled weight decay, PyTorch's arithmetic), the cosine learning-rate schedule with
// linear warmup (transformers' get_cosine_schedule_with_warmup), and global gradient-norm
// clipping (torch.nn.utils.clip_grad_norm_).
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace adallava::train {

struct AdamWConfig {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.0;
};

class AdamW {
 public:
  explicit AdamW(AdamWConfig c = {}) : c_(c) {}
  // One step at learning rate lr over every named parameter with a gradient (lr_scale, if given,
  // multiplies it per name). State (moments, step count) is created on first use and kept per name.
  void step(std::map<std::string, std::vector<float>>& params, const std::map<std::string, std::vector<float>>& grads,
            double lr, const std::function<double(const std::string&)>& lr_scale = nullptr);
  int64_t steps() const { return t_; }
  // Moments by name, for checkpoints and resume.
  std::map<std::string, std::vector<float>>& first_moments() { return m_; }
  std::map<std::string, std::vector<float>>& second_moments() { return v_; }
  void set_steps(int64_t t) { t_ = t; }
  void set_config(AdamWConfig c) { c_ = c; }

 private:
  AdamWConfig c_;
  int64_t t_ = 0;
  std::map<std::string, std::vector<float>> m_, v_;
};

// Learning rate at `step` (0-based) of `total`: linear from 0 over `warmup`, then half a cosine to 0.
double cosine_lr(double peak, int64_t step, int64_t warmup, int64_t total);

// Scales every gradient so that their global L2 norm is at most max_norm; returns the norm
// before clipping.
double clip_grad_norm(std::map<std::string, std::vector<float>>& grads, double max_norm);

}  // namespace adallava::train
