// The JSON files beside a checkpoint: the input is config.json (read as a LLaVA or AdaLLaVA
// config and as a CLIP config), preprocessor_config.json and tokenizer_config.json (with the
// shipped tokenizer.model beside it).
#include <filesystem>

#include "adaptive/ada_config.h"
#include "fuzz/fuzz_support.h"
#include "io/hf_config.h"
#include "text/tokenizer.h"
#include "vision/clip_preprocess.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace adallava;
  static const std::string dir = [] {
    const std::string d = fuzz::scratch() + "/config";
    std::filesystem::create_directories(d);
    std::filesystem::copy_file(fuzz::source_dir() + "/models/adallava-tiny-L/tokenizer.model", d + "/tokenizer.model",
                               std::filesystem::copy_options::overwrite_existing);
    return d;
  }();
  for (const char* name : {"config.json", "preprocessor_config.json", "tokenizer_config.json"})
    fuzz::write_input(std::string("config/") + name, data, size);
  try {
    const ModelConfig c = load_model_config(dir);
    if (c.model_type == "ada_llava_llama") parse_ada_config(c);
  } catch (const Error&) {
  }
  try {
    load_vision_config(dir);
  } catch (const Error&) {
  }
  try {
    load_preprocess_config(dir, 336);
  } catch (const Error&) {
  }
  try {
    Tokenizer::load(dir);
  } catch (const Error&) {
  }
  return 0;
}
