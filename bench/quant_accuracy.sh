#!/usr/bin/env bash
# How far quantized weights move a model: for the first N records of a LLaVA JSON (question and
# image), the next-token distributions at every prompt position of each GGUF against a reference
# model (exact f32 products), as llama.cpp's perplexity tool reports KL divergence: mean KL, the
# 99th percentile, and top-1 agreement. Each GGUF runs with its default (8-bit) products.
#
#   bash bench/quant_accuracy.sh REF_MODEL DATA.json IMAGES N [--budget B] F.gguf[:F.mmproj.gguf] ...
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 5 ] || { sed -n 2,7p "$0"; exit 2; }
ref=$1 data=$2 images=$3 n=$4
shift 4
budget=1
if [ "$1" = --budget ]; then budget=$2; shift 2; fi
bin=build/adallava
py=/usr/bin/python3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Question and image of the first N records.
$py - "$data" "$n" > "$work/records.tsv" <<'EOF'
import json, sys
records = json.load(open(sys.argv[1]))[: int(sys.argv[2])]
for r in records:
    q = next(t["value"] for t in r["conversations"] if t["from"] == "human").replace("<image>", "").strip()
    print(r["image"] + "\t" + q.replace("\t", " ").replace("\n", " "))
EOF

i=0
while IFS=$'\t' read -r image question; do
  ids=$("$bin" run -m "$ref" --image "$images/$image" -p "$question" -n 1 --json |
        $py -c 'import json,sys; print(",".join(map(str, json.load(sys.stdin)["prompt_ids"])))')
  "$bin" logits -m "$ref" --image "$images/$image" --ids "$ids" --budget "$budget" --precision f32 -o "$work/ref-$i.npy"
  for spec in "$@"; do
    f=${spec%%:*} mm=${spec#*:}
    [ "$mm" = "$spec" ] && mm=${f%.gguf}.mmproj.gguf
    "$bin" logits -m "$f" --mmproj "$mm" --image "$images/$image" --ids "$ids" --budget "$budget" -o "$work/$(basename "$f")-$i.npy"
  done
  i=$((i + 1))
done < "$work/records.tsv"

$py - "$work" "$i" "$budget" "$@" <<'EOF'
import array, json, math, os, sys
work, n, budget, files = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]

def npy(path):  # float32 [T, V], little-endian, C order
    raw = open(path, "rb").read()
    header_len = int.from_bytes(raw[8:10], "little")
    header = raw[10:10 + header_len].decode()
    shape = tuple(int(x) for x in header.split("(")[1].split(")")[0].split(",") if x.strip())
    a = array.array("f")
    a.frombytes(raw[10 + header_len:])
    return a, shape

def log_softmax(row):
    m = max(row)
    s = math.log(sum(math.exp(x - m) for x in row))
    return [x - m - s for x in row]

print(f"budget {budget}; {n} records; KL(reference || quantized) over every prompt position")
print("| file | mean KL | p99 KL | top-1 agreement |")
print("| --- | --- | --- | --- |")
out = []
for spec in files:
    name = os.path.basename(spec.split(":")[0])
    kls, same = [], 0
    for i in range(n):
        r, (T, V) = npy(f"{work}/ref-{i}.npy")
        q, _ = npy(f"{work}/{name}-{i}.npy")
        for t in range(T):
            p = log_softmax(r[t * V:(t + 1) * V])
            l = log_softmax(q[t * V:(t + 1) * V])
            kls.append(sum(math.exp(a) * (a - b) for a, b in zip(p, l)))
            same += max(range(V), key=lambda v: p[v]) == max(range(V), key=lambda v: l[v])
    kls.sort()
    mean, p99, top1 = sum(kls) / len(kls), kls[int(0.99 * (len(kls) - 1))], same / len(kls)
    print(f"| {name} | {mean:.2e} | {p99:.2e} | {100 * top1:.2f}% |")
    out.append({"file": name, "mean_kl": mean, "p99_kl": p99, "top1_agreement": top1, "positions": len(kls)})
print(json.dumps({"budget": float(budget), "records": n, "results": out}))
EOF
