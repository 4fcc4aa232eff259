#!/usr/bin/env bash
# Writes the seed corpus of every fuzz target (fuzz/corpus/<target>/): small valid inputs made
# by this build (a tiny checkpoint and its GGUF pair), the repository's own config files, images
# in each format, and a few hand-made edge cases. The seeds are checked in; rerun this after a
# format change.   fuzz/make_corpus.sh [BUILD_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$root/build}/adallava
out=$root/fuzz/corpus
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
py=/usr/bin/python3

rm -rf "$out" && mkdir -p "$out"/{safetensors,safetensors_index,gguf,gguf_mmproj,hf_config,image,tokenizer_text,sentencepiece_model,llava_data,chat_template,chat_request}

# A tiny LLaVA (32 wide, one layer each) as safetensors and as a GGUF pair.
"$bin" init --out "$tmp/m" --tokenizer "$root/tests/fixtures/tokenizer_tiny/tokenizer.model" --hidden 32 \
  --intermediate 64 --layers 1 --heads 2 --vision-hidden 32 --vision-intermediate 64 --vision-layers 1 \
  --vision-heads 2 --image-size 28 --patch 14 --max-positions 64 >/dev/null
"$bin" convert -m "$tmp/m" --out "$tmp/q8.gguf" --dtype q8_0 >/dev/null
"$bin" convert -m "$tmp/m" --out "$tmp/f16.gguf" --dtype f16 >/dev/null
cp "$tmp/q8.gguf" "$out/gguf/tiny-q8_0.gguf"
cp "$tmp/f16.gguf" "$out/gguf/tiny-f16.gguf"
cp "$tmp/q8.mmproj.gguf" "$out/gguf_mmproj/tiny-mmproj-f32.gguf"
cp "$tmp/f16.mmproj.gguf" "$out/gguf_mmproj/tiny-mmproj-f16.gguf"

$py - "$out" "$root" <<'PY'
import io, json, struct, sys, pathlib
import PIL.Image
out, root = map(pathlib.Path, sys.argv[1:])

def safetensors(tensors, meta=None):
    header, blobs, off = {}, b"", 0
    if meta is not None:
        header["__metadata__"] = meta
    for name, dtype, shape, data in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(data)]}
        blobs += data; off += len(data)
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + blobs

s = out / "safetensors"
f32 = struct.pack("<6f", *range(6))
(s / "f32.safetensors").write_bytes(safetensors([("model.embed_tokens.weight", "F32", [2, 3], f32)], {"format": "pt"}))
(s / "mixed.safetensors").write_bytes(safetensors([("a", "BF16", [4], b"\x80\x3f" * 4), ("b", "I64", [1], b"\x07" + b"\0" * 7),
                                                   ("c", "F16", [0, 3], b"")]))
(s / "header-only.safetensors").write_bytes(struct.pack("<Q", 2) + b"{}")

i = out / "safetensors_index"
(i / "index.json").write_text(json.dumps({"metadata": {"total_size": 60}, "weight_map": {
    "model.embed_tokens.weight": "a.safetensors", "lm_head.weight": "b.safetensors", "model.norm.weight": "b.safetensors"}}))
(i / "escape.json").write_text(json.dumps({"weight_map": {"x": "../a.safetensors"}}))

c = out / "hf_config"
for src in ["models/adallava-tiny-L/config.json", "models/adallava-tiny-H/config.json",
            "models/adallava-tiny-L/preprocessor_config.json", "tests/fixtures/llava_tiny_f32/config.json",
            "tests/fixtures/adallava_tiny_L/clip_vision_tower/config.json"]:
    (c / src.replace("/", "_")).write_bytes((root / src).read_bytes())
(c / "tokenizer_config.json").write_text(json.dumps({"legacy": False, "added_tokens_decoder": {"32000": {"content": "<image>"}}}))

im = out / "image"
rgb = PIL.Image.new("RGB", (7, 5), (200, 30, 90))
for fmt in ["PNG", "JPEG", "BMP", "GIF"]:
    b = io.BytesIO(); rgb.save(b, fmt); (im / f"tiny.{fmt.lower()}").write_bytes(b.getvalue())
b = io.BytesIO(); PIL.Image.new("LA", (3, 3)).save(b, "PNG"); (im / "grey-alpha.png").write_bytes(b.getvalue())
b = io.BytesIO(); PIL.Image.new("RGB", (4, 4)).save(b, "JPEG", progressive=True); (im / "progressive.jpeg").write_bytes(b.getvalue())

t = out / "tokenizer_text"
(t / "question.txt").write_text("USER: <image>\nWhat colour is the small circle? ASSISTANT:")
(t / "unicode.txt").write_text("naïve café — 東京 🙂 \t\n")
(t / "invalid-utf8.txt").write_bytes(b"ab\xff\xfe\xc3(\xe2\x82cd<image><image>")

(out / "sentencepiece_model" / "tokenizer.model").write_bytes((root / "tests/fixtures/tokenizer_tiny/tokenizer.model").read_bytes())

d = out / "llava_data"
rec = {"id": "a", "image": "a.png", "kind": "colour", "conversations": [
    {"from": "human", "value": "<image>\nWhat colour is it?"}, {"from": "gpt", "value": "red"},
    {"from": "human", "value": "And its shape?"}, {"from": "gpt", "value": "circle"}]}
(d / "records.json").write_text(json.dumps([rec, {"id": 3, "conversations": [{"from": "human", "value": "hi"}]}]))
(d / "text-only.json").write_text(json.dumps([{"id": "t", "conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}]}]))

ct = out / "chat_template"
(ct / "turns").write_bytes(b"\x00<image>\nWhat is it?\x00a circle\x00and its colour?\x00")
(ct / "named").write_bytes(b"llava_v1\x00hello\x00")

png = (im / "tiny.png").read_bytes()
import base64
uri = "data:image/png;base64," + base64.b64encode(png).decode()
r = out / "chat_request"
(r / "text.json").write_text(json.dumps({"messages": [{"role": "user", "content": "What is it?"}], "max_tokens": 4, "budget": 0.75}))
(r / "image.json").write_text(json.dumps({"model": "x", "stream": True, "stream_options": {"include_usage": True},
    "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": [
        {"type": "text", "text": "Describe"}, {"type": "image_url", "image_url": {"url": uri}}]}],
    "temperature": 0.5, "top_p": 0.9, "top_k": 4, "seed": 3, "stop": ["\n"], "deadline_ms": 500}))
(r / "header.txt").write_text(json.dumps({"messages": [{"role": "user", "content": "hi"}]}) + "\nX-Deadline-Ms: 250")
PY
du -sh "$out"; find "$out" -type f | wc -l
