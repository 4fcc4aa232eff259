#include "server/base64.h"

#include <openssl/evp.h>

#include <climits>

namespace adallava::server {

std::string encode_base64(const std::string& bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()), int(bytes.size()));
  out.resize(size_t(n));
  return out;
}

std::optional<std::string> decode_base64(const std::string& text) {
  std::string s;
  s.reserve(text.size());
  for (char c : text)
    if (c != '\n' && c != '\r') s += c;
  if (s.size() % 4 != 0 || s.size() > size_t(INT_MAX)) return std::nullopt;
  std::string out(s.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(s.data()), int(s.size()));
  if (n < 0) return std::nullopt;
  size_t pad = 0;  // EVP_DecodeBlock counts the padding as zero bytes
  if (!s.empty() && s.back() == '=') ++pad;
  if (s.size() > 1 && s[s.size() - 2] == '=') ++pad;
  out.resize(size_t(n) - pad);
  return out;
}

}  // namespace adallava::server
