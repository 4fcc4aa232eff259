#include "model/projector.h"

#include "kernels/ops.h"

namespace adallava {

std::vector<float> Projector::forward(const float* x, int64_t T, Precision p, std::vector<float>* pre_act) const {
  std::vector<float> h(size_t(T * l1.out_features())), y(size_t(T * l2.out_features()));
  l1.forward(h.data(), x, T, p);
  if (pre_act) *pre_act = h;
  activation(act.c_str(), h.data(), int64_t(h.size()));
  l2.forward(y.data(), h.data(), T, p);
  return y;
}

}  // namespace adallava
