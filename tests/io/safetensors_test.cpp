// Checkpoint validation: every malformed file gets an error naming the file or tensor.
#include "io/safetensors.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "llava/llava.h"
#include "tensor/error.h"
#include "test_util.h"

namespace adallava {
namespace {

std::string make_safetensors(const std::string& header, const std::string& data) {
  uint64_t n = header.size();
  std::string out(8, '\0');
  std::memcpy(out.data(), &n, 8);
  return out + header + data;
}

void expect_error(const std::string& path, const std::string& needle) {
  TensorStore s;
  try {
    s.add_file(path);
    ADD_FAILURE() << "no error for " << path;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << "one line: " << e.what();
  }
}

TEST(Safetensors, ReadsValidFile) {
  test::TempDir d;
  std::string data(16, '\0');
  float vals[4] = {1, 2, 3, 4};
  std::memcpy(data.data(), vals, 16);
  test::write_file(d.file("a.safetensors"),
                   make_safetensors(R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"__metadata__":{"format":"pt"}})", data));
  TensorStore s;
  s.add_file(d.file("a.safetensors"));
  const TensorRecord& r = s.get("w", {2, 2});
  EXPECT_EQ(static_cast<const float*>(r.data)[3], 4.f);
  EXPECT_THROW(s.get("w", {4}), Error);
  EXPECT_THROW(s.get("missing", {1}), Error);
}

TEST(Safetensors, RejectsCorruptFiles) {
  test::TempDir d;
  auto write = [&](const std::string& name, const std::string& bytes) {
    test::write_file(d.file(name), bytes);
    return d.file(name);
  };
  expect_error(write("short", "abc"), "truncated");
  expect_error(write("hugeheader", std::string("\xff\xff\xff\xff\xff\xff\x00\x00", 8) + "{}"), "header length");
  expect_error(write("notjson", make_safetensors("{not json", "")), "not a JSON object");
  expect_error(write("dtype", make_safetensors(R"({"w":{"dtype":"Q9","shape":[1],"data_offsets":[0,4]}})", std::string(4, 0))), "unknown dtype");
  expect_error(write("outside", make_safetensors(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", std::string(8, 0))), "outside");
  expect_error(write("shape", make_safetensors(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}})", std::string(16, 0))), "needs 12 bytes");
  expect_error(write("overlap", make_safetensors(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", std::string(12, 0))), "overlap");
  expect_error(write("negative", make_safetensors(R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", std::string(4, 0))), "shape");
  expect_error(d.file("does_not_exist"), "cannot open");
}

TEST(Safetensors, TruncatedFixtureCheckpointIsRejected) {
  test::TempDir d;
  const std::string src = test::fixture("llava_tiny_f32");
  for (const char* f : {"config.json", "preprocessor_config.json"})
    std::filesystem::copy_file(src + "/" + f, d.file(f));
  std::string bytes = test::read_file(src + "/model.safetensors");
  test::write_file(d.file("model.safetensors"), bytes.substr(0, bytes.size() / 2));
  try {
    LlavaModel::load(d.path);
    ADD_FAILURE() << "loaded a truncated checkpoint";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.safetensors"), std::string::npos) << e.what();
  }
}

TEST(Safetensors, ShardedIndexLoadsLikeSingleFile) {
  test::TempDir d;
  float a[2] = {1, 2}, b[3] = {3, 4, 5};
  test::write_file(d.file("m-1.safetensors"),
                   make_safetensors(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", std::string(reinterpret_cast<char*>(a), 8)));
  test::write_file(d.file("m-2.safetensors"),
                   make_safetensors(R"({"b":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}})", std::string(reinterpret_cast<char*>(b), 12)));
  test::write_file(d.file("model.safetensors.index.json"), R"({"weight_map":{"a":"m-1.safetensors","b":"m-2.safetensors"}})");
  TensorStore s = TensorStore::open_dir(d.path);
  EXPECT_EQ(static_cast<const float*>(s.get("b", {3}).data)[2], 5.f);
  test::write_file(d.file("model.safetensors.index.json"), R"({"weight_map":{"a":"m-1.safetensors","c":"m-2.safetensors"}})");
  EXPECT_THROW(TensorStore::open_dir(d.path), Error);
}

TEST(Safetensors, MissingTensorNamesTheTensor) {
  test::TempDir d;
  const std::string src = test::fixture("llama_tiny_gqa_f32");
  std::filesystem::copy_file(src + "/config.json", d.file("config.json"));
  // A checkpoint with only one tensor: loading must name a missing one.
  float v[64] = {};
  test::write_file(d.file("model.safetensors"),
                   make_safetensors(R"({"model.norm.weight":{"dtype":"F32","shape":[64],"data_offsets":[0,256]}})",
                                    std::string(reinterpret_cast<char*>(v), 256)));
  try {
    LlavaModel::load(d.path);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing tensor model.embed_tokens.weight"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace adallava
