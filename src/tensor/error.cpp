#include "tensor/error.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>

namespace adallava {

namespace {

// Bytes of the valid UTF-8 sequence at s[i] (1 for ASCII), or 0 when it is not one.
size_t utf8_length(const std::string& s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  const uint8_t c = b(i);
  if (c < 0x80) return 1;
  size_t n = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k)
    if ((b(i + k) & 0xC0) != 0x80) return 0;
  const uint32_t second = b(i + 1);
  if ((c == 0xE0 && second < 0xA0) || (c == 0xED && second >= 0xA0) || (c == 0xF0 && second < 0x90) ||
      (c == 0xF4 && second >= 0x90))
    return 0;  // overlong forms, surrogates, beyond U+10FFFF
  return n;
}

// Characters that end a line somewhere: C0 controls and DEL, C1 controls (U+0080-U+009F, NEL
// among them), and U+2028 / U+2029.
bool breaks_lines(const std::string& s, size_t i, size_t n) {
  const auto b = [&](size_t k) { return static_cast<uint8_t>(s[i + k]); };
  if (n == 1) return b(0) < 0x20 || b(0) == 0x7F;
  if (n == 2) return b(0) == 0xC2 && b(1) < 0xA0;
  return n == 3 && b(0) == 0xE2 && b(1) == 0x80 && (b(2) == 0xA8 || b(2) == 0xA9);
}

}  // namespace

std::string one_line(const std::string& text) {
  constexpr size_t kMaxBytes = 4096;  // a name quoted from a crafted file can be megabytes long
  std::string out;
  out.reserve(std::min(text.size(), kMaxBytes));
  for (size_t i = 0; i < text.size();) {
    if (out.size() >= kMaxBytes) {
      out += "... (" + std::to_string(text.size() - i) + " more bytes)";
      break;
    }
    const size_t n = utf8_length(text, i);
    if (n == 0 || breaks_lines(text, i, n)) {
      for (size_t k = 0; k < std::max<size_t>(n, 1); ++k) {
        char hex[5];
        std::snprintf(hex, sizeof hex, "\\x%02x", static_cast<uint8_t>(text[i + k]));
        out += hex;
      }
      i += std::max<size_t>(n, 1);
      continue;
    }
    out.append(text, i, n);
    i += n;
  }
  return out;
}

}  // namespace adallava
