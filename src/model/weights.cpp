#include "model/weights.h"

namespace adallava {

WeightView load_matrix(const TensorStore& store, const std::string& name, int64_t rows, int64_t cols) {
  return load_matrix_as(store, name, {rows, cols}, rows, cols);
}

WeightView load_matrix_as(const TensorStore& store, const std::string& name, const std::vector<int64_t>& shape,
                          int64_t rows, int64_t cols) {
  const TensorRecord& r = store.get(name, shape);
  return WeightView::dense(r.dtype, r.data, rows, cols);
}

std::vector<float> load_vector(const TensorStore& store, const std::string& name, int64_t n) {
  const TensorRecord& r = store.get(name, {n});
  std::vector<float> v(static_cast<size_t>(n));
  to_f32(r.dtype, r.data, v.data(), size_t(n));
  return v;
}

std::vector<float> widen_matrix(const WeightView& w) {
  std::vector<float> out(size_t(w.rows * w.cols));
  for (int64_t r = 0; r < w.rows; ++r) to_f32(w.dtype, w.at(r, 0), out.data() + r * w.cols, size_t(w.cols));
  return out;
}

Linear load_linear(const TensorStore& store, const std::string& prefix, int64_t out, int64_t in, bool with_bias) {
  Linear l;
  l.w = load_matrix(store, prefix + ".weight", out, in);
  if (with_bias) l.b = load_vector(store, prefix + ".bias", out);
  return l;
}

}  // namespace adallava
