// A single-file checkpoint: DIR/model.safetensors is the input (header length, JSON header,
// dtypes, shapes, offsets); every tensor the store accepts is read to its last byte.
#include <filesystem>

#include "fuzz/fuzz_support.h"
#include "io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace adallava;
  const std::string dir = fuzz::scratch() + "/single";
  std::filesystem::create_directories(dir);
  fuzz::write_input("single/model.safetensors", data, size);
  try {
    const TensorStore store = TensorStore::open_dir(dir);
    for (const auto& [name, r] : store.records()) fuzz::touch(r.data, r.nbytes);
  } catch (const Error&) {
  }
  return 0;
}
