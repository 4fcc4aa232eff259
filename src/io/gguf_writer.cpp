#include "io/gguf_writer.h"

#include <filesystem>
#include <fstream>

#include "io/gguf.h"
#include "tensor/error.h"

namespace adallava {

namespace {

constexpr uint64_t kAlignment = 32;
enum : uint32_t { kU32 = 4, kI32 = 5, kF32 = 6, kBool = 7, kString = 8, kArray = 9 };

template <typename T>
void put(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof(T));
}

void put_string(std::string& out, const std::string& s) {
  put<uint64_t>(out, s.size());
  out += s;
}

}  // namespace

void GgufWriter::key(const std::string& k, uint32_t type) {
  put_string(kv_, k);
  put<uint32_t>(kv_, type);
  ++n_kv_;
}

void GgufWriter::add_string(const std::string& k, const std::string& v) { key(k, kString), put_string(kv_, v); }
void GgufWriter::add_u32(const std::string& k, uint32_t v) { key(k, kU32), put(kv_, v); }
void GgufWriter::add_i32(const std::string& k, int32_t v) { key(k, kI32), put(kv_, v); }
void GgufWriter::add_f32(const std::string& k, float v) { key(k, kF32), put(kv_, v); }
void GgufWriter::add_bool(const std::string& k, bool v) { key(k, kBool), put<uint8_t>(kv_, v ? 1 : 0); }

void GgufWriter::add_strings(const std::string& k, const std::vector<std::string>& v) {
  key(k, kArray);
  put<uint32_t>(kv_, kString);
  put<uint64_t>(kv_, v.size());
  for (const std::string& s : v) put_string(kv_, s);
}

void GgufWriter::add_f32s(const std::string& k, const std::vector<float>& v) {
  key(k, kArray);
  put<uint32_t>(kv_, kF32);
  put<uint64_t>(kv_, v.size());
  for (float f : v) put(kv_, f);
}

void GgufWriter::add_i32s(const std::string& k, const std::vector<int32_t>& v) {
  key(k, kArray);
  put<uint32_t>(kv_, kI32);
  put<uint64_t>(kv_, v.size());
  for (int32_t i : v) put(kv_, i);
}

void GgufWriter::add_tensor(const std::string& name, DType dtype, const std::vector<int64_t>& shape,
                            ByteBuffer bytes) {
  if (ggml_type_of(dtype) < 0) throw Error(name + ": " + dtype_name(dtype) + " has no GGUF type");
  int64_t numel = 1;
  for (int64_t d : shape) numel *= d;
  if (shape.empty() || shape.back() % block_elems(dtype) != 0 || bytes.size() != row_bytes(dtype, numel))
    throw Error("internal: tensor " + name + " does not fit its shape and type");
  tensors_.push_back({name, dtype, shape, std::move(bytes)});
}

void GgufWriter::write(const std::string& path) const {
  std::string out = "GGUF";
  put<uint32_t>(out, 3);
  put<uint64_t>(out, tensors_.size());
  put<uint64_t>(out, n_kv_);
  out += kv_;
  uint64_t offset = 0;
  for (const Tensor& t : tensors_) {
    put_string(out, t.name);
    put<uint32_t>(out, uint32_t(t.shape.size()));
    for (auto it = t.shape.rbegin(); it != t.shape.rend(); ++it) put<uint64_t>(out, uint64_t(*it));  // ne: innermost first
    put<uint32_t>(out, uint32_t(ggml_type_of(t.dtype)));
    put<uint64_t>(out, offset);
    offset += (t.bytes.size() + kAlignment - 1) / kAlignment * kAlignment;
  }
  out.resize((out.size() + kAlignment - 1) / kAlignment * kAlignment, '\0');
  // Streamed to PATH.tmp, then renamed: a 7B model's tensors are not copied into one string.
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) throw Error(path + ": cannot write");
    f.write(out.data(), std::streamsize(out.size()));
    const char zeros[kAlignment] = {};
    for (const Tensor& t : tensors_) {
      f.write(reinterpret_cast<const char*>(t.bytes.data()), std::streamsize(t.bytes.size()));
      f.write(zeros, std::streamsize((kAlignment - t.bytes.size() % kAlignment) % kAlignment));
    }
    if (!f.flush()) throw Error(path + ": write failed (disk full?)");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) throw Error(path + ": cannot move the written file into place: " + ec.message());
}

}  // namespace adallava
