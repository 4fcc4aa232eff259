// A sharded checkpoint: DIR/model.safetensors.index.json is the input, beside two valid shards
// (a.safetensors, b.safetensors) it may name, or not.
#include <filesystem>

#include "fuzz/fuzz_support.h"
#include "io/safetensors.h"
#include "io/safetensors_writer.h"

namespace {

void write_shards(const std::string& dir) {
  using namespace adallava;
  std::filesystem::create_directories(dir);
  const std::vector<float> w(6, 0.5f);
  write_safetensors(dir + "/a.safetensors", {{"model.embed_tokens.weight", DType::F32, {2, 3}, w.data()}});
  write_safetensors(dir + "/b.safetensors", {{"lm_head.weight", DType::F32, {3, 2}, w.data()},
                                             {"model.norm.weight", DType::F32, {3}, w.data()}});
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace adallava;
  static const std::string dir = [] {
    const std::string d = fuzz::scratch() + "/sharded";
    write_shards(d);
    return d;
  }();
  fuzz::write_input("sharded/model.safetensors.index.json", data, size);
  try {
    const TensorStore store = TensorStore::open_dir(dir);
    for (const auto& [name, r] : store.records()) fuzz::touch(r.data, r.nbytes);
  } catch (const Error&) {
  }
  return 0;
}
