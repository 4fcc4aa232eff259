// GGUF reading: llama.cpp's own files as the manifest describes them, and crafted bad files,
// each refused with one line naming the file and what is wrong.
#include "io/gguf.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "llava/llava.h"
#include "text/gguf_tokenizer.h"

#include "tensor/error.h"
#include "test_util.h"

namespace adallava {
namespace {

TEST(Gguf, ReadsLlamaCppFilesAsTheManifestDescribes) {
  const std::string dir = test::fixture("gguf_llava_tiny");
  const nlohmann::json ggufs = test::manifest(dir)["ggufs"];
  int files = 0;
  for (const auto& [key, g] : ggufs.items()) {
    if (!g.value("shipped", false)) continue;
    const GgufFile f(dir + "/" + g["file"].get<std::string>());
    EXPECT_EQ(f.version(), g["gguf_version"].get<uint32_t>()) << key;
    EXPECT_EQ(f.metadata().size(), g["n_kv"].get<size_t>()) << key;
    ASSERT_EQ(f.tensors().size(), g["n_tensors"].get<size_t>()) << key;
    std::map<std::string, int> counts;
    for (const GgufTensor& t : f.tensors()) ++counts[dtype_name(t.dtype)];
    for (const auto& [type, n] : g["type_counts"].items()) EXPECT_EQ(counts[type], n.get<int>()) << key << " " << type;
    ++files;
  }
  EXPECT_EQ(files, 5);
  const GgufFile text(dir + "/ggml-model-Q4_0.gguf");
  EXPECT_EQ(text.get_string("general.architecture"), "llama");
  EXPECT_EQ(text.get_int("llama.embedding_length"), 256);
  EXPECT_EQ(text.get_array("tokenizer.ggml.tokens").size(), 386u);
  EXPECT_EQ(text.get_array("tokenizer.ggml.tokens")[384], "<image>");
  for (const GgufTensor& t : text.tensors()) {
    if (t.name == "blk.0.ffn_down.weight") {
      EXPECT_EQ(t.shape, (std::vector<int64_t>{256, 512}));  // torch order
    }
  }
}

// A small GGUF built byte by byte: one key, one F32 tensor [2, 32].
struct Builder {
  std::string b;
  void u32(uint32_t v) { b.append(reinterpret_cast<const char*>(&v), 4); }
  void u64(uint64_t v) { b.append(reinterpret_cast<const char*>(&v), 8); }
  void str(const std::string& s) { u64(s.size()), b += s; }
  static std::string file(uint32_t type = 0, uint64_t offset = 0, uint64_t n_tensors = 1, uint64_t str_len = 5) {
    Builder w;
    w.b = "GGUF";
    w.u32(3);
    w.u64(n_tensors);
    w.u64(1);
    w.u64(str_len), w.b += "n.key";
    w.u32(4), w.u32(7);  // u32 value 7
    w.str("t");
    w.u32(2), w.u64(32), w.u64(2);
    w.u32(type), w.u64(offset);
    while (w.b.size() % 32) w.b.push_back('\0');
    w.b.append(2 * 32 * 4, '\0');
    return w.b;
  }
};

std::string error_of(const std::string& bytes) {
  test::TempDir tmp;
  const std::string path = tmp.file("m.gguf");
  test::write_file(path, bytes);
  try {
    GgufFile f(path);
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
    EXPECT_NE(what.find(path), std::string::npos) << what;
    return what;
  }
  return "";
}

TEST(Gguf, TheBuiltFileIsValid) {
  EXPECT_EQ(error_of(Builder::file()), "");
}

TEST(Gguf, BadFilesGetOneLineErrors) {
  std::string bad_magic = Builder::file();
  bad_magic[0] = 'X';
  EXPECT_NE(error_of(bad_magic).find("bad magic"), std::string::npos);
  EXPECT_NE(error_of(Builder::file(3)).find("type Q4_1 (3) is not read"), std::string::npos);
  EXPECT_NE(error_of(Builder::file(99)).find("type unknown (99)"), std::string::npos);
  EXPECT_NE(error_of(Builder::file(0, 1u << 20)).find("past the end"), std::string::npos);
  EXPECT_NE(error_of(Builder::file(0, 4)).find("not aligned"), std::string::npos);
  EXPECT_NE(error_of(Builder::file(0, 0, uint64_t(1) << 60)).find("more than the file holds"), std::string::npos);
  EXPECT_NE(error_of(Builder::file(0, 0, 1, uint64_t(1) << 62)).find("at most"), std::string::npos);
  EXPECT_NE(error_of(Builder::file(12)).find("not whole Q4_K blocks"), std::string::npos);
  std::string version = Builder::file();
  version[4] = 1;
  EXPECT_NE(error_of(version).find("GGUF version 1"), std::string::npos);
}

TEST(Gguf, EveryTruncationIsRefused) {
  const std::string full = Builder::file();
  for (size_t n = 0; n < full.size(); ++n) {
    const std::string e = error_of(full.substr(0, n));
    EXPECT_NE(e, "") << "prefix of " << n << " bytes was accepted";
  }
}

}  // namespace
}  // namespace adallava

namespace adallava {
namespace {

// Random byte changes in the header, keys and tensor infos of llama.cpp's files: reading,
// loading the model and building its tokenizer either work or stop with one line (under the
// sanitizers in CI: no bad read, no leak, no abort).
TEST(Gguf, MutatedHeadersNeverCrash) {
  const std::string dir = test::fixture("gguf_llava_tiny");
  std::mt19937 rng(1234);
  int refused = 0, loaded = 0;
  for (const char* name : {"ggml-model-Q4_0.gguf", "mmproj-model-f16.gguf"}) {
    const std::string bytes = test::read_file(dir + "/" + name);
    const size_t header = std::min<size_t>(bytes.size(), 12000);
    for (int i = 0; i < 150; ++i) {
      std::string m = bytes;
      for (int k = 0; k < 1 + int(rng() % 4); ++k) m[rng() % header] = char(rng());
      test::TempDir t;
      test::write_file(t.file("m.gguf"), m);
      try {
        const GgufFile f(t.file("m.gguf"));
        if (std::string(name).find("mmproj") == std::string::npos) {
          LlavaModel::load_gguf(t.file("m.gguf"), "");
          tokenizer_from_gguf(f);
        } else {
          LlavaModel::load_gguf(dir + "/ggml-model-Q4_0.gguf", t.file("m.gguf"));
        }
        ++loaded;
      } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
        ++refused;
      }
    }
  }
  EXPECT_GT(refused, 0);
  EXPECT_GT(loaded, 0);  // some changes are harmless (names of keys nobody reads, scores)
}

}  // namespace
}  // namespace adallava
