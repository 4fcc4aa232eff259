// Whole-string number parsing for values people type (budgets, deadlines, ids): the text must
// be the number and nothing else.
#pragma once
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>

namespace adallava {

// A finite decimal number, or nothing ("", "12ms", "inf", "nan" and out-of-range values).
inline std::optional<double> parse_finite(const std::string& text) {
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  if (used != text.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

// A decimal integer, or nothing.
inline std::optional<int64_t> parse_integer(const std::string& text) {
  size_t used = 0;
  int64_t v = 0;
  try {
    v = std::stoll(text, &used);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  if (text.empty() || used != text.size()) return std::nullopt;
  return v;
}

}  // namespace adallava
