#!/usr/bin/env python3
"""Mutated models through the whole CLI: copies a model folder and an image, mutates one file
(config.json and preprocessor_config.json by value and by byte, the safetensors header and
data, tokenizer.model, a GGUF pair, the image), runs `adallava run` on it, and checks that each
run either answers (exit 0) or refuses with one line on stderr (exit 1): never a signal, an
abort, a sanitizer report or a hang. Prints a summary and one JSON line; exit 1 on any finding,
with the mutated files kept under --keep.

    fuzz/mutate_run.py [--runs 300] [--seed 1] [--adallava build/adallava] [--keep DIR]"""
import argparse
import json
import pathlib
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
INTERESTING = [0, -1, 1, 2, 3, 7, 255, 65535, 65536, 2**31 - 1, 2**31, 2**32, 2**53, -2**31, 10**18]


def flip_bytes(data, rng, span=None, count=None):
    b = bytearray(data)
    if not b:
        return bytes(b)
    lo, hi = span or (0, len(b))
    hi = max(lo + 1, min(hi, len(b)))
    for _ in range(count or rng.randint(1, 8)):
        i = rng.randrange(lo, hi)
        b[i] = rng.choice([b[i] ^ (1 << rng.randrange(8)), rng.randrange(256), 0, 0xFF])
    return bytes(b)


def cut(data, rng):
    return data[: rng.randrange(len(data) + 1)]


def mutate_json_value(obj, rng):
    """One value of a JSON document changed: a number to an edge case, a type swapped, a key dropped."""
    paths = []

    def walk(o, path):
        if isinstance(o, dict):
            for k, v in o.items():
                paths.append(path + [k])
                walk(v, path + [k])
        elif isinstance(o, list):
            for i, v in enumerate(o):
                paths.append(path + [i])
                walk(v, path + [i])

    walk(obj, [])
    if not paths:
        return obj
    path = rng.choice(paths)
    parent = obj
    for k in path[:-1]:
        parent = parent[k]
    key = path[-1]
    choice = rng.randrange(5)
    if choice == 0 and isinstance(parent, dict):
        del parent[key]
    elif choice == 1:
        parent[key] = rng.choice(INTERESTING)
    elif choice == 2:
        parent[key] = rng.choice([None, "", "x" * 1000, [], {}, True, 1e308, -0.5, "nan"])
    elif choice == 3 and isinstance(parent[key], (int, float)) and not isinstance(parent[key], bool):
        parent[key] = parent[key] * rng.choice([-1, 0, 2, 1000, 10**9]) + rng.choice([0, 1, -1])
    else:
        parent[key] = rng.choice(INTERESTING)
    return obj


def mutate_json_file(path, rng):
    text = path.read_bytes()
    if rng.random() < 0.7:
        try:
            obj = json.loads(text)
            for _ in range(rng.randint(1, 3)):
                obj = mutate_json_value(obj, rng)
            path.write_text(json.dumps(obj))
            return "json value"
        except ValueError:
            pass
    path.write_bytes(flip_bytes(text, rng) if rng.random() < 0.8 else cut(text, rng))
    return "json bytes"


def mutate_safetensors(path, rng):
    data = path.read_bytes()
    n = struct.unpack("<Q", data[:8])[0]
    r = rng.random()
    if r < 0.45:  # the JSON header, by value
        header = json.loads(data[8 : 8 + n])
        header = mutate_json_value(header, rng)
        h = json.dumps(header).encode()
        path.write_bytes(struct.pack("<Q", len(h)) + h + data[8 + n :])
        return "safetensors header value"
    if r < 0.75:
        path.write_bytes(flip_bytes(data, rng, (0, 8 + n)))
        return "safetensors header bytes"
    if r < 0.9:
        path.write_bytes(flip_bytes(data, rng, (8 + n, len(data)), count=64))
        return "safetensors weights"
    path.write_bytes(cut(data, rng))
    return "safetensors truncated"


def mutate_binary(path, rng, what):
    data = path.read_bytes()
    if rng.random() < 0.8:
        head = min(len(data), rng.choice([64, 512, 4096, len(data)]))
        path.write_bytes(flip_bytes(data, rng, (0, head)))
        return what + " bytes"
    path.write_bytes(cut(data, rng))
    return what + " truncated"


def one_case(rng, work, model, image, gguf):
    """Copies the inputs into work/, mutates one file; returns (description, command)."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    img = work / ("image" + image.suffix)
    shutil.copy(image, img)
    if gguf and rng.random() < 0.25:
        text, mmproj = work / "text.gguf", work / "mmproj.gguf"
        shutil.copy(gguf[0], text)
        shutil.copy(gguf[1], mmproj)
        target = rng.choice([text, mmproj])
        what = mutate_binary(target, rng, target.name)
        return what, ["-m", str(text), "--mmproj", str(mmproj), "--image", str(img)]
    m = work / "model"
    shutil.copytree(model, m)
    kind = rng.choice(["config", "preprocessor", "safetensors", "safetensors", "tokenizer", "image"])
    if kind == "config":
        what = "config.json " + mutate_json_file(m / "config.json", rng)
    elif kind == "preprocessor":
        what = "preprocessor_config.json " + mutate_json_file(m / "preprocessor_config.json", rng)
    elif kind == "safetensors":
        what = mutate_safetensors(m / "model.safetensors", rng)
    elif kind == "tokenizer":
        what = mutate_binary(m / "tokenizer.model", rng, "tokenizer.model")
    else:
        what = mutate_binary(img, rng, "image")
    return what, ["-m", str(m), "--image", str(img)]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=300)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--adallava", default=str(ROOT / "build" / "adallava"))
    p.add_argument("--model", default=str(ROOT / "models" / "adallava-tiny-L"))
    p.add_argument("--image", default=str(ROOT / "models" / "examples" / "scene-1.png"))
    p.add_argument("--timeout", type=float, default=60)
    p.add_argument("--keep", default="build/mutations", help="where the inputs of findings are kept")
    a = p.parse_args()
    rng = random.Random(a.seed)
    d = ROOT / "tests" / "fixtures" / "gguf_llava_tiny"
    gguf = (d / "ggml-model-Q4_0.gguf", d / "mmproj-model-f16.gguf") if d.is_dir() else None
    counts = {"answered": 0, "refused": 0}
    findings = []
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        work = pathlib.Path(tmp) / "case"
        for i in range(a.runs):
            what, args = one_case(rng, work, pathlib.Path(a.model), pathlib.Path(a.image), gguf)
            cmd = [a.adallava, "run", *args, "-p", "What shape is the object?", "-n", "4", "-t", "1",
                   "--calibration-cache", "off"]
            try:
                r = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=a.timeout)
                lines = [l for l in r.stderr.splitlines() if l.strip()]
                if r.returncode == 0:
                    counts["answered"] += 1
                    continue
                if r.returncode == 1 and len(lines) == 1 and lines[0].startswith("error: "):
                    counts["refused"] += 1
                    continue
                problem = f"exit {r.returncode}: " + " | ".join(lines[-6:])[:600]
            except subprocess.TimeoutExpired:
                problem = f"no answer within {a.timeout:.0f} s"
            keep = pathlib.Path(a.keep) / f"case-{a.seed}-{i}"
            shutil.rmtree(keep, ignore_errors=True)
            shutil.copytree(work, keep)
            findings.append({"run": i, "mutation": what, "problem": problem, "kept": str(keep)})
            print(f"run {i}: {what}: {problem}", file=sys.stderr)
    summary = {"runs": a.runs, "seed": a.seed, **counts, "findings": len(findings), "seconds": round(time.time() - t0, 1)}
    print(json.dumps(summary))
    for f in findings:
        print(json.dumps(f))
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
