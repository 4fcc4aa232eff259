// The decoder's Q4_0 and Q8_0 matrices rewritten in the interleaved layout their integer kernels
// read (four rows block by block, tensor/quant.h), at load. The copies replace the store's
// tensors; the pages of the mapped originals are released, so the process holds one copy.
// Embeddings keep their layout (rows are looked up one at a time).
#pragma once
#include <string>

#include "io/safetensors.h"
#include "tensor/mapped_file.h"

namespace adallava {

// Whether a matrix of this type and shape takes the interleaved layout (rows in fours).
bool interleaves(DType t, const std::vector<int64_t>& shape);

// Every 2-D tensor under decoder_prefix + "layers." and lm_head with rows in fours; mapping (if
// the tensors live in one) has their pages released after the copy. Returns how many it rewrote.
int interleave_decoder_matrices(TensorStore& store, const std::string& decoder_prefix, const std::string& lm_head,
                                const MappedFile* mapping);

}  // namespace adallava
