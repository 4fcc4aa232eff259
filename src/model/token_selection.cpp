#include "model/token_selection.h"

#include <cstdio>
#include <optional>

#include "io/parse_number.h"
#include "tensor/error.h"

namespace adallava {

namespace {

// The selections a checkpoint's token_selecting can name.
std::optional<TokenSelection::Kind> config_kind(const std::string& text) {
  if (text == "none") return TokenSelection::None;
  if (text == "prumerge") return TokenSelection::PruMerge;
  if (text == "prumerge+") return TokenSelection::PruMergePlus;
  return std::nullopt;
}

}  // namespace

TokenSelection TokenSelection::parse(const std::string& text) {
  TokenSelection s;
  if (const auto k = config_kind(text)) return s.kind = *k, s;
  const std::string bad = "token selection '" + text + "' is not none, prumerge, prumerge+, fastv or fastv:K,R";
  if (text.rfind("fastv", 0) != 0) throw Error(bad);
  s.kind = FastV;
  if (text == "fastv") return s;
  const size_t comma = text.find(',');
  if (text.size() < 7 || text[5] != ':' || comma == std::string::npos) throw Error(bad);
  const std::optional<int64_t> k = parse_integer(text.substr(6, comma - 6));
  const std::optional<double> r = parse_finite(text.substr(comma + 1));
  if (!k || !r) throw Error(bad);
  if (*k < 1 || *k > 1000) throw Error("token selection '" + text + "': K must be a layer number >= 1");
  if (*r < 0 || *r >= 1) throw Error("token selection '" + text + "': R (the share of image rows dropped) must be in [0, 1)");
  s.fastv_k = int(*k);
  s.fastv_r = *r;
  return s;
}

TokenSelection TokenSelection::from_config(const std::string& value, const std::string& config_path) {
  TokenSelection s;
  if (const auto k = config_kind(value)) return s.kind = *k, s;
  throw Error(config_path + ": field token_selecting '" + value + "' is not none, prumerge or prumerge+");
}

std::string TokenSelection::name() const {
  switch (kind) {
    case None:
      return "none";
    case PruMerge:
      return "prumerge";
    case PruMergePlus:
      return "prumerge+";
    case FastV: {
      char buf[64];
      std::snprintf(buf, sizeof buf, "fastv:%d,%g", fastv_k, fastv_r);
      return buf;
    }
  }
  return "none";
}

}  // namespace adallava
