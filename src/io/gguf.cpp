#include "io/gguf.h"

#include <cstring>

#include "tensor/error.h"

namespace adallava {

namespace {

using json = nlohmann::json;

// Limits that keep a crafted file from asking for absurd memory or time; real files are far
// below them (a 7B vocabulary is 32,000 strings; tensors number in the hundreds).
constexpr uint64_t kMaxStringBytes = 1u << 20;
constexpr uint64_t kMaxArrayItems = 1u << 24;
constexpr uint64_t kMaxTensors = 1u << 16;
constexpr uint64_t kMaxKeys = 1u << 16;
constexpr uint32_t kMaxDims = 4;
constexpr uint64_t kMaxElements = uint64_t(1) << 40;

enum ValueType : uint32_t {
  kU8, kI8, kU16, kI16, kU32, kI32, kF32, kBool, kString, kArray, kU64, kI64, kF64, kValueTypes
};

struct GgmlType {
  int id;
  DType dtype;
};
constexpr GgmlType kTypes[] = {{0, DType::F32},  {1, DType::F16},   {30, DType::BF16}, {8, DType::Q8_0},
                               {2, DType::Q4_0}, {6, DType::Q5_0},  {12, DType::Q4_K}, {14, DType::Q6_K}};

// ggml's names of the types it defines, for the error a type adallava does not read gets.
std::string ggml_type_name(uint32_t id) {
  static const char* names[] = {"F32",  "F16",  "Q4_0", "Q4_1", "Q4_2", "Q4_3", "Q5_0", "Q5_1",
                                "Q8_0", "Q8_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q8_K",
                                "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S", "IQ4_NL", "IQ3_S", "IQ2_S",
                                "IQ4_XS", "I8", "I16", "I32", "I64", "F64", "IQ1_M", "BF16"};
  return id < std::size(names) ? names[id] : "unknown";
}

// Reads little-endian values from the mapping, every read checked against the end.
class Reader {
 public:
  Reader(const MappedFile& f) : f_(f) {}
  size_t pos() const { return pos_; }
  size_t left() const { return f_.size() - pos_; }

  const uint8_t* take(uint64_t n, const char* what) {
    if (n > left())
      throw Error(f_.path() + ": truncated GGUF file: " + what + " needs " + std::to_string(n) + " bytes at offset " +
                  std::to_string(pos_) + ", " + std::to_string(left()) + " left");
    const uint8_t* p = f_.data() + pos_;
    pos_ += size_t(n);
    return p;
  }
  template <typename T>
  T get(const char* what) {
    T v;
    std::memcpy(&v, take(sizeof(T), what), sizeof(T));
    return v;
  }
  std::string string(const char* what) {
    const uint64_t n = get<uint64_t>(what);
    if (n > kMaxStringBytes)
      throw Error(f_.path() + ": " + what + " is a string of " + std::to_string(n) + " bytes (at most " +
                  std::to_string(kMaxStringBytes) + ")");
    const uint8_t* p = take(n, what);
    return std::string(reinterpret_cast<const char*>(p), size_t(n));
  }

 private:
  const MappedFile& f_;
  size_t pos_ = 0;
};

json read_scalar(Reader& r, uint32_t type, const std::string& where) {
  const char* w = where.c_str();
  switch (type) {
    case kU8: return r.get<uint8_t>(w);
    case kI8: return r.get<int8_t>(w);
    case kU16: return r.get<uint16_t>(w);
    case kI16: return r.get<int16_t>(w);
    case kU32: return r.get<uint32_t>(w);
    case kI32: return r.get<int32_t>(w);
    case kF32: return r.get<float>(w);
    case kBool: return r.get<uint8_t>(w) != 0;
    case kString: return r.string(w);
    case kU64: return r.get<uint64_t>(w);
    case kI64: return r.get<int64_t>(w);
    case kF64: return r.get<double>(w);
  }
  return nullptr;
}

size_t min_bytes(uint32_t type) {
  static const size_t sizes[] = {1, 1, 2, 2, 4, 4, 4, 1, 8, 12, 8, 8, 8};
  return sizes[type];
}

json read_value(Reader& r, uint32_t type, const std::string& key, const std::string& path) {
  if (type >= kValueTypes)
    throw Error(path + ": key " + key + " has value type " + std::to_string(type) + ", which GGUF does not define");
  if (type != kArray) return read_scalar(r, type, "key " + key);
  const uint32_t item = r.get<uint32_t>("an array's type");
  const uint64_t n = r.get<uint64_t>("an array's length");
  if (item >= kValueTypes || item == kArray)
    throw Error(path + ": key " + key + " is an array of value type " + std::to_string(item) +
                (item == kArray ? " (nested arrays are not read)" : ", which GGUF does not define"));
  if (n > kMaxArrayItems || n > r.left() / min_bytes(item))
    throw Error(path + ": key " + key + " claims " + std::to_string(n) + " array items, more than the file holds");
  json a = json::array();
  for (uint64_t i = 0; i < n; ++i) a.push_back(read_scalar(r, item, "key " + key));
  return a;
}

}  // namespace

int ggml_type_of(DType t) {
  for (const GgmlType& g : kTypes)
    if (g.dtype == t) return g.id;
  return -1;
}

std::shared_ptr<MappedFile> gguf_mapping(const GgufFile& f) { return f.file_; }

GgufFile::GgufFile(const std::string& path) : file_(std::make_shared<MappedFile>(path)) {
  Reader r(*file_);
  const uint8_t* magic = r.take(4, "the magic");
  if (std::memcmp(magic, "GGUF", 4) != 0) throw Error(path + ": not a GGUF file (bad magic)");
  version_ = r.get<uint32_t>("the version");
  if (version_ != 2 && version_ != 3)
    throw Error(path + ": GGUF version " + std::to_string(version_) + " (versions 2 and 3 are read)");
  const uint64_t n_tensors = r.get<uint64_t>("the tensor count");
  const uint64_t n_kv = r.get<uint64_t>("the key count");
  if (n_tensors > kMaxTensors || n_tensors > r.left() / 24)
    throw Error(path + ": GGUF header claims " + std::to_string(n_tensors) + " tensors, more than the file holds");
  if (n_kv > kMaxKeys || n_kv > r.left() / 12)
    throw Error(path + ": GGUF header claims " + std::to_string(n_kv) + " keys, more than the file holds");

  for (uint64_t i = 0; i < n_kv; ++i) {
    std::string key = r.string("a key name");
    const uint32_t type = r.get<uint32_t>("a value type");
    json v = read_value(r, type, key, path);
    if (!kv_.emplace(key, std::move(v)).second) throw Error(path + ": key " + key + " appears twice");
  }

  struct Info {
    std::string name;
    std::vector<uint64_t> ne;
    uint32_t type;
    uint64_t offset;
  };
  std::vector<Info> infos;
  for (uint64_t i = 0; i < n_tensors; ++i) {
    Info t;
    t.name = r.string("a tensor name");
    const uint32_t dims = r.get<uint32_t>("a tensor's dimension count");
    if (dims == 0 || dims > kMaxDims)
      throw Error(path + ": tensor " + t.name + " has " + std::to_string(dims) + " dimensions (1 to 4 are read)");
    for (uint32_t d = 0; d < dims; ++d) t.ne.push_back(r.get<uint64_t>("a tensor's dimensions"));
    t.type = r.get<uint32_t>("a tensor's type");
    t.offset = r.get<uint64_t>("a tensor's offset");
    infos.push_back(std::move(t));
  }

  uint64_t alignment = 32;
  if (has("general.alignment")) {
    const json& a = kv_.at("general.alignment");
    if (!a.is_number_unsigned() || a.get<uint64_t>() == 0 || (a.get<uint64_t>() & (a.get<uint64_t>() - 1)) ||
        a.get<uint64_t>() > 65536)
      throw Error(path + ": general.alignment must be a power of two up to 65536");
    alignment = a.get<uint64_t>();
  }
  const uint64_t data_start = (r.pos() + alignment - 1) / alignment * alignment;
  if (data_start > file_->size() && !infos.empty())
    throw Error(path + ": truncated GGUF file: the data section would start at " + std::to_string(data_start) +
                ", past the end (" + std::to_string(file_->size()) + " bytes)");
  const uint64_t data_size = file_->size() > data_start ? file_->size() - data_start : 0;

  std::map<std::string, bool> seen;
  for (const Info& t : infos) {
    auto bad = [&](const std::string& why) { return Error(path + ": tensor " + t.name + ": " + why); };
    if (!seen.emplace(t.name, true).second) throw bad("appears twice");
    GgufTensor out;
    out.name = t.name;
    bool known = false;
    for (const GgmlType& g : kTypes)
      if (uint32_t(g.id) == t.type) out.dtype = g.dtype, known = true;
    if (!known)
      throw bad("type " + ggml_type_name(t.type) + " (" + std::to_string(t.type) +
                ") is not read (F32, F16, BF16, Q8_0, Q4_0, Q5_0, Q4_K, Q6_K are)");
    uint64_t numel = 1;
    for (uint64_t d : t.ne) {
      if (d == 0 || d > kMaxElements || numel > kMaxElements / d) throw bad("absurd dimensions");
      numel *= d;
    }
    const int64_t B = block_elems(out.dtype);
    if (int64_t(t.ne[0]) % B != 0)
      throw bad("rows of " + std::to_string(t.ne[0]) + " elements are not whole " + dtype_name(out.dtype) +
                " blocks of " + std::to_string(B));
    out.nbytes = row_bytes(out.dtype, int64_t(t.ne[0])) * size_t(numel / t.ne[0]);
    if (t.offset % alignment != 0) throw bad("offset " + std::to_string(t.offset) + " is not aligned");
    if (t.offset > data_size || out.nbytes > data_size - t.offset)
      throw bad("bytes [" + std::to_string(t.offset) + ", " + std::to_string(t.offset + out.nbytes) +
                ") of the data section lie past the end of the file");
    out.data = file_->data() + data_start + t.offset;
    for (auto it = t.ne.rbegin(); it != t.ne.rend(); ++it) out.shape.push_back(int64_t(*it));
    tensors_.push_back(std::move(out));
  }
}

const json& GgufFile::get(const std::string& key, bool (json::*is)() const, const char* kind) const {
  auto it = kv_.find(key);
  if (it == kv_.end()) throw Error(path() + ": missing key " + key);
  if (!(it->second.*is)()) throw Error(path() + ": key " + key + " is not " + kind);
  return it->second;
}

std::string GgufFile::get_string(const std::string& key) const {
  return get(key, &json::is_string, "a string").get<std::string>();
}
int64_t GgufFile::get_int(const std::string& key) const {
  const json& v = get(key, &json::is_number_integer, "an integer");
  if (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX)) throw Error(path() + ": key " + key + " is too large");
  return v.get<int64_t>();
}
double GgufFile::get_float(const std::string& key) const {
  return get(key, &json::is_number, "a number").get<double>();
}
bool GgufFile::get_bool(const std::string& key) const { return get(key, &json::is_boolean, "a boolean").get<bool>(); }
const json& GgufFile::get_array(const std::string& key) const { return get(key, &json::is_array, "an array"); }
int64_t GgufFile::get_int(const std::string& key, int64_t fallback) const { return has(key) ? get_int(key) : fallback; }
double GgufFile::get_float(const std::string& key, double fallback) const {
  return has(key) ? get_float(key) : fallback;
}
std::string GgufFile::get_string(const std::string& key, const std::string& fallback) const {
  return has(key) ? get_string(key) : fallback;
}

}  // namespace adallava
