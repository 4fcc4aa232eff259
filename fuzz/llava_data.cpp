// A LLaVA JSON training file: records read strictly and with bad ones skipped, then each
// encoded as both training stages do (vicuna_v1 and plain) with the shipped tokenizer.
#include "data/llava_data.h"
#include "fuzz/fuzz_support.h"
#include "text/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace adallava;
  static const Tokenizer tok = Tokenizer::load(fuzz::source_dir() + "/models/adallava-tiny-L");
  const std::string path = fuzz::write_input("data.json", data, size);
  try {
    data::load_llava_json(path);
  } catch (const Error&) {
  }
  try {
    int64_t skipped = 0;
    for (const data::Record& r : data::load_llava_json(path, true, &skipped))
      for (const char* stage : {"vicuna_v1", "plain"}) {
        try {
          data::encode_record(r, [&](const std::string& s) { return tok.encode(s); }, tok.bos_id(), -200, true, stage);
        } catch (const Error&) {
        }
      }
  } catch (const Error&) {
  }
  return 0;
}
