#include "model/interleave_weights.h"

#include "tensor/quant.h"

namespace adallava {

bool interleaves(DType t, const std::vector<int64_t>& shape) {
  return has_interleaved_type(t) && shape.size() == 2 && shape[0] % 4 == 0;
}

int interleave_decoder_matrices(TensorStore& store, const std::string& decoder_prefix, const std::string& lm_head,
                                const MappedFile* mapping) {
  const std::string layers = decoder_prefix + "layers.";
  std::vector<std::string> names;
  for (const auto& [name, r] : store.records()) {
    const bool decoder_matrix = name.rfind(layers, 0) == 0 || name == lm_head;
    if (decoder_matrix && r.is_float && interleaves(r.dtype, r.shape))
      names.push_back(name);
  }
  for (const std::string& name : names) {
    const TensorRecord r = *store.find(name);
    ByteBuffer bytes(r.nbytes);
    interleave_rows(r.dtype, r.data, bytes.data(), r.shape[0], r.shape[1]);
    store.add_owned(name, interleaved_type(r.dtype), r.shape, std::move(bytes));
    if (mapping) mapping->release(r.data, r.nbytes);
  }
  return int(names.size());
}

}  // namespace adallava
