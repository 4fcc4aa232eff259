#include "text/sentencepiece_proto.h"

#include <cstdint>
#include <cstring>

#include "tensor/error.h"

namespace adallava {

namespace {

// ModelProto.normalizer_spec = field 3 (message); NormalizerSpec.add_dummy_prefix = field 3 (bool).
constexpr uint32_t kNormalizerSpecField = 3;
constexpr uint32_t kAddDummyPrefixField = 3;

uint64_t read_varint(const std::string& s, size_t& pos) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (pos >= s.size()) throw Error("tokenizer.model: truncated protobuf");
    uint8_t b = uint8_t(s[pos++]);
    v |= uint64_t(b & 0x7f) << shift;
    if (!(b & 0x80)) return v;
  }
  throw Error("tokenizer.model: malformed protobuf varint");
}

void write_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(char(uint8_t(v) | 0x80));
    v >>= 7;
  }
  out.push_back(char(v));
}

// Skips one field's payload; returns [start, end) of the whole field record from `field_start`.
void skip_payload(const std::string& s, size_t& pos, uint32_t wire) {
  switch (wire) {
    case 0: read_varint(s, pos); return;
    case 1: pos += 8; break;
    case 2: {
      uint64_t len = read_varint(s, pos);
      if (len > s.size() - pos) throw Error("tokenizer.model: truncated protobuf field");
      pos += len;
      return;
    }
    case 5: pos += 4; break;
    default: throw Error("tokenizer.model: unsupported protobuf wire type " + std::to_string(wire));
  }
  if (pos > s.size()) throw Error("tokenizer.model: truncated protobuf");
}

std::string rewrite_normalizer(const std::string& spec, bool value) {
  std::string out;
  size_t pos = 0;
  while (pos < spec.size()) {
    size_t start = pos;
    uint64_t key = read_varint(spec, pos);
    uint32_t field = uint32_t(key >> 3), wire = uint32_t(key & 7);
    skip_payload(spec, pos, wire);
    if (field == kAddDummyPrefixField && wire == 0) continue;  // dropped, written below
    out.append(spec, start, pos - start);
  }
  write_varint(out, (kAddDummyPrefixField << 3) | 0);
  write_varint(out, value ? 1 : 0);
  return out;
}

}  // namespace

std::string set_add_dummy_prefix(const std::string& model, bool value) {
  std::string out;
  size_t pos = 0;
  bool found = false;
  while (pos < model.size()) {
    size_t start = pos;
    uint64_t key = read_varint(model, pos);
    uint32_t field = uint32_t(key >> 3), wire = uint32_t(key & 7);
    if (field == kNormalizerSpecField && wire == 2) {
      uint64_t len = read_varint(model, pos);
      if (len > model.size() - pos) throw Error("tokenizer.model: truncated normalizer_spec");
      std::string spec = rewrite_normalizer(model.substr(pos, len), value);
      pos += len;
      write_varint(out, key);
      write_varint(out, spec.size());
      out += spec;
      found = true;
      continue;
    }
    skip_payload(model, pos, wire);
    out.append(model, start, pos - start);
  }
  if (!found) {  // no normalizer_spec at all: add one holding just this flag
    std::string spec = rewrite_normalizer("", value);
    write_varint(out, (kNormalizerSpecField << 3) | 2);
    write_varint(out, spec.size());
    out += spec;
  }
  return out;
}

namespace {

void put_tag(std::string& out, uint32_t field, uint32_t wire) { write_varint(out, uint64_t(field) << 3 | wire); }

void put_bytes(std::string& out, uint32_t field, const std::string& bytes) {
  put_tag(out, field, 2);
  write_varint(out, bytes.size());
  out += bytes;
}

void put_int(std::string& out, uint32_t field, int64_t v) {
  put_tag(out, field, 0);
  write_varint(out, uint64_t(v));  // negative ints take ten bytes, as protobuf's int32 does
}

}  // namespace

std::string build_llama_model_proto(const std::vector<SpPiece>& pieces, int unk_id, int bos_id, int eos_id) {
  // ModelProto: pieces = 1 {piece 1, score 2 (float), type 3}, trainer_spec = 2, normalizer_spec = 3.
  std::string out;
  for (const SpPiece& p : pieces) {
    std::string m;
    put_bytes(m, 1, p.text);
    put_tag(m, 2, 5);
    char f[4];
    std::memcpy(f, &p.score, 4);
    m.append(f, 4);
    put_int(m, 3, p.type);
    put_bytes(out, 1, m);
  }
  std::string trainer;  // model_type 3 (BPE = 2), vocab_size 4, byte_fallback 35, unk/bos/eos/pad ids 40..43
  put_int(trainer, 3, 2);
  put_int(trainer, 4, int64_t(pieces.size()));
  put_int(trainer, 35, 1);
  put_int(trainer, 40, unk_id);
  put_int(trainer, 41, bos_id);
  put_int(trainer, 42, eos_id);
  put_int(trainer, 43, -1);
  put_bytes(out, 2, trainer);
  std::string normalizer;  // name 1, add_dummy_prefix 3, remove_extra_whitespaces 4, escape_whitespaces 5
  put_bytes(normalizer, 1, "identity");
  put_int(normalizer, 3, 1);
  put_int(normalizer, 4, 0);
  put_int(normalizer, 5, 1);
  put_bytes(out, 3, normalizer);
  return out;
}

}  // namespace adallava
