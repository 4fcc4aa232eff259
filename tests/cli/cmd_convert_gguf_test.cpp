// The GGUF round trip through the binary: `convert --out F.gguf` of the shipped AdaLLaVA, then
// `run -m F.gguf --mmproj F.mmproj.gguf` answers as the original does; llama.cpp's own files run
// with a prompt (their vocabulary is the tokenizer); bad GGUF files and flags get one line.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli/cli_test_util.h"
#include "test_util.h"

namespace adallava {
namespace {

std::string shipped(const std::string& v) { return std::string(ADALLAVA_MODELS_DIR) + "/adallava-tiny-" + v; }

nlohmann::json run_json(const std::string& args) {
  Result r = run_cli("run " + args + " -n 8 -t 1 --json");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.exit_code == 0 ? nlohmann::json::parse(r.out) : nlohmann::json::object();
}

TEST(CliGguf, ConvertedAdaLlavaAnswersAsTheOriginal) {
  test::TempDir t;
  Result c = run_cli("convert -m " + shipped("L") + " --out " + t.file("m.gguf") + " --dtype f32");
  ASSERT_EQ(c.exit_code, 0) << c.err;
  EXPECT_NE(c.out.find("m.mmproj.gguf"), std::string::npos) << c.out;
  const std::string image = std::string(ADALLAVA_MODELS_DIR) + "/examples/scene-1.png";
  for (const char* budget : {"1", "0.625"}) {
    const std::string q = " --image " + image + " -p \"How many shapes are there?\" --precision f32 --budget " + budget;
    const nlohmann::json a = run_json("-m " + shipped("L") + q);
    const nlohmann::json b = run_json("-m " + t.file("m.gguf") + " --mmproj " + t.file("m.mmproj.gguf") + q);
    EXPECT_EQ(a["ids"], b["ids"]) << budget;
    EXPECT_EQ(a["plan"], b["plan"]) << budget;
  }
}

TEST(CliGguf, QuantizedConversionRuns) {
  test::TempDir t;
  for (const char* type : {"q8_0", "q4_0", "q4_k"}) {
    Result c = run_cli("convert -m " + shipped("H") + " --out " + t.file(std::string(type) + ".gguf") + " --dtype " + type);
    ASSERT_EQ(c.exit_code, 0) << c.err;
    const nlohmann::json j = run_json("-m " + t.file(std::string(type) + ".gguf") + " --mmproj " +
                                      t.file(std::string(type) + ".mmproj.gguf") + " --image " + ADALLAVA_MODELS_DIR +
                                      "/examples/scene-2.png -p \"How many shapes are there?\" --budget 0.75");
    EXPECT_FALSE(j.value("text", "").empty()) << type;
    EXPECT_EQ(j.value("precision", ""), "q8") << type;
  }
}

// llava-cli's prompt, as text: the GGUF vocabulary tokenizes it to the fixture's ids and the
// greedy answer is the reference's (exact products).
TEST(CliGguf, LlamaCppFilesRunWithAPrompt) {
  const std::string dir = test::fixture("gguf_llava_tiny");
  const nlohmann::json per = test::manifest(dir)["references"]["per_gguf"];
  test::TempDir t;
  test::write_file(t.file("prompt.txt"), test::manifest(dir)["prompt"]["llava_cli_prompt"].get<std::string>());
  const nlohmann::json j = run_json("-m " + dir + "/ggml-model-Q4_K_M.gguf --mmproj " + dir + "/mmproj-model-f16.gguf --image " +
                                    dir + "/image.png --raw-prompt -p \"$(cat " + t.file("prompt.txt") +
                                    ")\" --precision f32 --ignore-eos");
  EXPECT_EQ(j["prompt_ids"], nlohmann::json(test::npy_i64(dir + "/input_ids.npy")));
  EXPECT_EQ(j["ids"], per["Q4_K_M+mmproj_f16"]["generated_ids"]);
}

TEST(CliGguf, BadGgufInputGetsOneLineErrors) {
  const std::string dir = test::fixture("gguf_llava_tiny");
  test::TempDir t;
  const std::string bytes = test::read_file(dir + "/ggml-model-Q8_0.gguf");
  test::write_file(t.file("cut.gguf"), bytes.substr(0, bytes.size() / 2));
  expect_clean_error(run_cli("run -m " + t.file("cut.gguf") + " --ids 1,2"), "past the end of the file");
  test::write_file(t.file("magic.gguf"), "GGUX" + bytes.substr(4));
  expect_clean_error(run_cli("run -m " + t.file("magic.gguf") + " --ids 1,2"), "bad magic");
  expect_clean_error(run_cli("run -m " + dir + "/mmproj-model-f16.gguf --ids 1,2"), "general.architecture is 'clip'");
  expect_clean_error(run_cli("run -m " + dir + "/ggml-model-Q8_0.gguf --mmproj " + dir + "/ggml-model-Q4_0.gguf --ids 1,2"),
                     "an mmproj file is 'clip'");
  expect_clean_error(run_cli("run -m " + shipped("L") + " --mmproj " + dir + "/mmproj-model-f16.gguf --ids 1,2"),
                     "goes with a GGUF text model");
  expect_clean_error(run_cli("convert -m " + shipped("L") + " --out " + t.file("x") + " --dtype q4_0"),
                     "quantized types are written as GGUF");
  expect_clean_error(run_cli("convert -m " + shipped("L") + " --out " + t.file("x.gguf") + " --dtype bf16"),
                     "GGUF output takes");
}

}  // namespace
}  // namespace adallava
