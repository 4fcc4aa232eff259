// Base64 (standard alphabet, padded) through OpenSSL: images in data: URIs.
#pragma once
#include <optional>
#include <string>

namespace adallava::server {

std::string encode_base64(const std::string& bytes);
// The bytes of a base64 text (line breaks allowed); nothing for anything else.
std::optional<std::string> decode_base64(const std::string& text);

}  // namespace adallava::server
