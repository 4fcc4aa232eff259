#include "io/safetensors.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tensor/error.h"

namespace adallava {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr uint64_t kMaxHeaderBytes = 100u << 20;  // real headers are well under 1 MB

// Bytes per element of every dtype the format defines; 0 for unknown.
size_t element_size(const std::string& d) {
  static const std::map<std::string, size_t> sizes = {
      {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8}, {"U64", 8},
      {"I32", 4}, {"U32", 4}, {"I16", 2}, {"U16", 2}, {"I8", 1},   {"U8", 1},
      {"BOOL", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1}};
  auto it = sizes.find(d);
  return it == sizes.end() ? 0 : it->second;
}

}  // namespace

int64_t TensorRecord::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

TensorStore TensorStore::open_dir(const std::string& dir) {
  TensorStore store;
  store.origin_ = dir;
  if (!fs::is_directory(dir)) throw Error(dir + ": model folder not found");
  fs::path index = fs::path(dir) / "model.safetensors.index.json";
  fs::path single = fs::path(dir) / "model.safetensors";
  if (fs::exists(index)) {
    std::ifstream in(index);
    json j = json::parse(in, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("weight_map") ||
        !j["weight_map"].is_object())
      throw Error(index.string() + ": not a valid safetensors index (no weight_map object)");
    std::map<std::string, std::string> name_to_file;
    std::vector<std::string> shards;
    for (auto& [name, file] : j["weight_map"].items()) {
      if (!file.is_string()) throw Error(index.string() + ": weight_map[" + name + "] is not a file name");
      std::string f = file.get<std::string>();
      if (f.find('/') != std::string::npos || f.find("..") != std::string::npos)
        throw Error(index.string() + ": shard name '" + f + "' must be a plain file name");
      name_to_file[name] = f;
      if (std::find(shards.begin(), shards.end(), f) == shards.end()) shards.push_back(f);
    }
    for (auto& s : shards) store.add_file((fs::path(dir) / s).string());
    for (auto& [name, f] : name_to_file) {
      auto it = store.records_.find(name);
      if (it == store.records_.end())
        throw Error(index.string() + ": tensor " + name + " is listed in shard " + f + " but missing there");
      if (fs::path(it->second.file).filename() != f)
        throw Error(index.string() + ": tensor " + name + " is listed in " + f + " but found in " + it->second.file);
    }
  } else if (fs::exists(single)) {
    store.add_file(single.string());
  } else {
    throw Error(dir + ": no model.safetensors or model.safetensors.index.json");
  }
  return store;
}

void TensorStore::add_file(const std::string& path) {
  if (origin_.empty()) origin_ = path;
  auto file = std::make_unique<MappedFile>(path);
  const uint8_t* base = file->data();
  const size_t size = file->size();
  if (size < 8) throw Error(path + ": truncated safetensors file (" + std::to_string(size) + " bytes)");
  uint64_t header_len;
  std::memcpy(&header_len, base, 8);
  if (header_len < 2 || header_len > kMaxHeaderBytes || header_len > size - 8)
    throw Error(path + ": corrupt safetensors header length " + std::to_string(header_len) +
                " (file has " + std::to_string(size) + " bytes)");
  json header = json::parse(base + 8, base + 8 + header_len, nullptr, false);
  if (header.is_discarded() || !header.is_object())
    throw Error(path + ": safetensors header is not a JSON object");

  const uint8_t* data = base + 8 + header_len;
  const size_t data_size = size - 8 - header_len;
  std::vector<std::pair<size_t, size_t>> ranges;
  std::vector<TensorRecord> found;
  for (auto& item : header.items()) {
    const std::string& name = item.key();  // not a structured binding: a lambda captures it
    auto& entry = item.value();
    if (name == "__metadata__") continue;
    auto bad = [&](const std::string& why) { return Error(path + ": tensor " + name + ": " + why); };
    if (!entry.is_object() || !entry.contains("dtype") || !entry.contains("shape") ||
        !entry.contains("data_offsets"))
      throw bad("header entry needs dtype, shape and data_offsets");
    if (!entry["dtype"].is_string()) throw bad("dtype is not a string");
    TensorRecord r;
    r.name = name;
    r.file = path;
    r.dtype_name = entry["dtype"].get<std::string>();
    size_t esize = element_size(r.dtype_name);
    if (esize == 0) throw bad("unknown dtype " + r.dtype_name);
    if (r.dtype_name == "F32") r.is_float = true, r.dtype = DType::F32;
    if (r.dtype_name == "F16") r.is_float = true, r.dtype = DType::F16;
    if (r.dtype_name == "BF16") r.is_float = true, r.dtype = DType::BF16;
    if (!entry["shape"].is_array()) throw bad("shape is not a list");
    size_t numel = 1;
    for (auto& d : entry["shape"]) {
      if (!d.is_number_unsigned()) throw bad("shape has a non-integer or negative dimension");
      uint64_t v = d.get<uint64_t>();
      if (v > (uint64_t(1) << 40) || (v && numel > (uint64_t(1) << 48) / v)) throw bad("absurd shape");
      numel *= v;
      r.shape.push_back(int64_t(v));
    }
    auto& off = entry["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      throw bad("data_offsets must be two non-negative integers");
    uint64_t begin = off[0].get<uint64_t>(), end = off[1].get<uint64_t>();
    if (begin > end || end > data_size)
      throw bad("data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                ") outside the data section of " + std::to_string(data_size) + " bytes (truncated file?)");
    if (end - begin != numel * esize)
      throw bad("shape " + shape_str(r.shape) + " of " + r.dtype_name + " needs " +
                std::to_string(numel * esize) + " bytes but data_offsets span " + std::to_string(end - begin));
    r.nbytes = end - begin;
    r.data = data + begin;
    ranges.push_back({begin, end});
    found.push_back(std::move(r));
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i)
    if (ranges[i].first < ranges[i - 1].second)
      throw Error(path + ": tensors overlap at byte " + std::to_string(ranges[i].first) + " of the data section");

  for (auto& r : found) {
    if (records_.count(r.name)) throw Error(path + ": tensor " + r.name + " appears in two shards");
    // Kernels read elements through typed pointers; realign the rare tensor that needs it.
    size_t align = r.is_float ? dtype_size(r.dtype) : 1;
    if (reinterpret_cast<uintptr_t>(r.data) % align != 0) {
      ByteBuffer copy(r.nbytes);
      std::memcpy(copy.data(), r.data, r.nbytes);
      r.data = copy.data();
      owned_.push_back(std::move(copy));
    }
    records_.emplace(r.name, std::move(r));
  }
  files_.push_back(std::move(file));
}

void TensorStore::add_owned(const std::string& name, DType dtype, const std::vector<int64_t>& shape,
                            ByteBuffer bytes) {
  int64_t numel = 1;
  for (int64_t d : shape) numel *= d;
  if (numel % block_elems(dtype) != 0 || bytes.size() != row_bytes(dtype, numel))
    throw Error("tensor " + name + ": " + std::to_string(bytes.size()) + " bytes do not fit shape " + shape_str(shape));
  add_view(name, dtype, shape, bytes.data());
  owned_.push_back(std::move(bytes));
}

void TensorStore::add_view(const std::string& name, DType dtype, const std::vector<int64_t>& shape,
                           const void* data) {
  TensorRecord r;
  r.name = name;
  r.dtype_name = dtype_name(dtype);
  r.is_float = true;
  r.dtype = dtype;
  r.shape = shape;
  r.file = origin_;
  r.data = data;
  r.nbytes = row_bytes(dtype, r.numel());
  records_[name] = std::move(r);
}

void TensorStore::add_mapped(TensorRecord r, std::shared_ptr<const void> owner) {
  if (kept_.empty() || kept_.back() != owner) kept_.push_back(std::move(owner));
  const std::string name = r.name;
  records_[name] = std::move(r);
}

const TensorRecord* TensorStore::find(const std::string& name) const {
  auto it = records_.find(name);
  return it == records_.end() ? nullptr : &it->second;
}

const TensorRecord& TensorStore::get(const std::string& name, const std::vector<int64_t>& shape) const {
  const TensorRecord* r = find(name);
  if (!r) throw Error(origin_ + ": missing tensor " + name);
  if (!r->is_float)
    throw Error(r->file + ": tensor " + name + " has dtype " + r->dtype_name + ", expected a float type");
  if (r->shape != shape)
    throw Error(r->file + ": tensor " + name + " has shape " + shape_str(r->shape) + ", config expects " +
                shape_str(shape));
  return *r;
}

}  // namespace adallava
