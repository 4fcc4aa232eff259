#include "io/npy.h"

#include <cstring>
#include <fstream>
#include <regex>

#include "tensor/dtype.h"
#include "tensor/error.h"

namespace adallava {

namespace {

size_t descr_size(const std::string& d) {
  if (d.size() < 3) return 0;
  return size_t(std::stoul(d.substr(2)));
}

template <typename T>
T load_as(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

double element_as_f64(const std::string& d, const uint8_t* p) {
  char kind = d[1];
  size_t n = descr_size(d);
  if (kind == 'f' && n == 4) return load_as<float>(p);
  if (kind == 'f' && n == 8) return load_as<double>(p);
  if (kind == 'f' && n == 2) return f16_to_f32(load_as<uint16_t>(p));
  if (kind == 'i' && n == 8) return double(load_as<int64_t>(p));
  if (kind == 'i' && n == 4) return load_as<int32_t>(p);
  if (kind == 'i' && n == 2) return load_as<int16_t>(p);
  if (kind == 'i' && n == 1) return load_as<int8_t>(p);
  if ((kind == 'u' || kind == 'b') && n == 1) return *p;
  if (kind == 'u' && n == 2) return load_as<uint16_t>(p);
  if (kind == 'u' && n == 4) return load_as<uint32_t>(p);
  if (kind == 'u' && n == 8) return double(load_as<uint64_t>(p));
  throw Error("npy: unsupported dtype " + d);
}

}  // namespace

int64_t NpyArray::numel() const {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

std::vector<double> NpyArray::to_f64() const {
  std::vector<double> out(static_cast<size_t>(numel()));
  size_t es = descr_size(descr);
  for (size_t i = 0; i < out.size(); ++i) out[i] = element_as_f64(descr, bytes.data() + i * es);
  return out;
}

std::vector<float> NpyArray::to_f32() const {
  std::vector<float> out(static_cast<size_t>(numel()));
  size_t es = descr_size(descr);
  for (size_t i = 0; i < out.size(); ++i) out[i] = float(element_as_f64(descr, bytes.data() + i * es));
  return out;
}

std::vector<int64_t> NpyArray::to_i64() const {
  std::vector<int64_t> out(static_cast<size_t>(numel()));
  size_t es = descr_size(descr);
  for (size_t i = 0; i < out.size(); ++i) {
    if (descr == "<i8") out[i] = load_as<int64_t>(bytes.data() + i * es);
    else out[i] = int64_t(element_as_f64(descr, bytes.data() + i * es));
  }
  return out;
}

NpyArray read_npy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open");
  char magic[8];
  if (!in.read(magic, 8) || std::memcmp(magic, "\x93NUMPY", 6) != 0) throw Error(path + ": not an .npy file");
  uint32_t hlen = 0;
  if (magic[6] == 1) {
    uint16_t h;
    in.read(reinterpret_cast<char*>(&h), 2);
    hlen = h;
  } else {
    in.read(reinterpret_cast<char*>(&hlen), 4);
  }
  std::string header(hlen, '\0');
  if (!in.read(header.data(), hlen)) throw Error(path + ": truncated .npy header");
  std::smatch m;
  NpyArray a;
  if (!std::regex_search(header, m, std::regex("'descr':\\s*'([^']+)'"))) throw Error(path + ": no descr");
  a.descr = m[1];
  if (std::regex_search(header, m, std::regex("'fortran_order':\\s*True")))
    throw Error(path + ": Fortran-order arrays are not supported");
  if (!std::regex_search(header, m, std::regex("'shape':\\s*\\(([^)]*)\\)"))) throw Error(path + ": no shape");
  std::string dims = m[1];
  std::regex num("\\d+");
  for (auto it = std::sregex_iterator(dims.begin(), dims.end(), num); it != std::sregex_iterator(); ++it)
    a.shape.push_back(std::stoll(it->str()));
  if (a.descr[0] == '>') throw Error(path + ": big-endian arrays are not supported");
  size_t es = descr_size(a.descr);
  a.bytes.resize(size_t(a.numel()) * es);
  if (!in.read(reinterpret_cast<char*>(a.bytes.data()), std::streamsize(a.bytes.size())))
    throw Error(path + ": truncated .npy data");
  return a;
}

void write_npy_f32(const std::string& path, const float* data, const std::vector<int64_t>& shape) {
  std::string dims;
  size_t n = 1;
  for (auto d : shape) {
    dims += std::to_string(d) + ",";
    n *= size_t(d);
  }
  if (shape.size() > 1) dims.pop_back();
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + dims + "), }";
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::ofstream out(path, std::ios::binary);
  if (!out) throw Error(path + ": cannot write");
  out.write("\x93NUMPY\x01\x00", 8);
  uint16_t hlen = uint16_t(header.size());
  out.write(reinterpret_cast<const char*>(&hlen), 2);
  out.write(header.data(), std::streamsize(header.size()));
  out.write(reinterpret_cast<const char*>(data), std::streamsize(n * 4));
  if (!out) throw Error(path + ": write failed");
}

}  // namespace adallava
