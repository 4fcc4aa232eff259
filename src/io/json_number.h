// Numbers read from JSON that another program wrote: checked against the range the reader can
// hold (a C++ cast of 1e49 to int is undefined), or an Error that names the field.
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>

#include "tensor/error.h"

namespace adallava {

// An integer in [lo, hi]; `field` names it in the error ("config.json: field size").
inline int64_t json_integer(const nlohmann::json& v, const std::string& field, int64_t lo, int64_t hi) {
  if (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max()))
    throw Error(field + " = " + v.dump() + " is out of range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  if (!v.is_number_integer()) throw Error(field + " must be an integer, not " + v.dump());
  const int64_t n = v.get<int64_t>();
  if (n < lo || n > hi)
    throw Error(field + " = " + std::to_string(n) + " is out of range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return n;
}

// A finite number that a float holds.
inline float json_float(const nlohmann::json& v, const std::string& field) {
  if (!v.is_number()) throw Error(field + " must be a number, not " + v.dump());
  const double d = v.get<double>();
  if (!std::isfinite(d) || std::fabs(d) > double(std::numeric_limits<float>::max()))
    throw Error(field + " = " + v.dump() + " is not a finite float");
  return float(d);
}

}  // namespace adallava
