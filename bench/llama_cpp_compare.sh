#!/usr/bin/env bash
# Side by side with llama.cpp on the same GGUF files: random-weight decoders of a real shape
# (default LLaVA-1.5-7B's Vicuna-7B) written by `adallava bench --write-gguf` in each type, run
# by llama.cpp's llama-bench and by `adallava bench -m`, same threads, interleaved round by round
# (the machine is shared: compare ratios from one run). Both decode from an empty context, as
# llama-bench's tg test does. Prints one table and a JSON line.
#
#   bash bench/llama_cpp_compare.sh LLAMA_CPP_BUILD [--types q4_0,q8_0] [--threads 2]
#        [--prompt 512] [--decode 64] [--rounds 2] [--preset llava-7b] [--dir WORK]
#
# LLAMA_CPP_BUILD is a llama.cpp build folder (bin/llama-bench inside), built by hand from a
# source snapshot; it is not a dependency of adallava.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { sed -n 2,11p "$0"; exit 2; }
llama=$1/bin/llama-bench
shift
types=q4_0,q8_0 threads=2 prompt=512 decode=64 rounds=2 preset=llava-7b work=
while [ $# -gt 0 ]; do
  case $1 in
    --types) types=$2 ;; --threads) threads=$2 ;; --prompt) prompt=$2 ;; --decode) decode=$2 ;;
    --rounds) rounds=$2 ;; --preset) preset=$2 ;; --dir) work=$2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift 2
done
[ -x "$llama" ] || { echo "error: $llama not found (give a llama.cpp build folder)" >&2; exit 1; }
adallava=build/adallava
[ -x "$adallava" ] || { echo "error: $adallava not found (build adallava first)" >&2; exit 1; }
if [ -z "$work" ]; then work=$(mktemp -d); trap 'rm -rf "$work"' EXIT; fi
py=/usr/bin/python3

for t in ${types//,/ }; do
  f=$work/$preset-$t.gguf
  [ -f "$f" ] || "$adallava" bench --synthetic "$preset" --dtype "$t" --write-gguf "$f" >/dev/null
done

results=$work/results.jsonl
: > "$results"
for round in $(seq "$rounds"); do
  for t in ${types//,/ }; do
    f=$work/$preset-$t.gguf
    "$llama" -m "$f" -t "$threads" -p "$prompt" -n "$decode" -r 1 -o json 2>/dev/null |
      $py -c 'import json,sys
rows = json.load(sys.stdin)
pp = [r["avg_ts"] for r in rows if r["n_prompt"] > 0 and r["n_gen"] == 0]
tg = [r["avg_ts"] for r in rows if r["n_gen"] > 0 and r["n_prompt"] == 0]
print(json.dumps({"engine": "llama.cpp", "type": sys.argv[1], "prefill": pp[0], "decode": tg[0],
                  "cpu": rows[0].get("cpu_info", "")}))' "$t" >> "$results"
    # As llama-bench: the prompt's rate from one run, the decode's from an empty context.
    pp=$("$adallava" bench -m "$f" -t "$threads" --prompt-tokens "$prompt" --decode-tokens 1 --json)
    "$adallava" bench -m "$f" -t "$threads" --prompt-tokens 1 --decode-tokens "$decode" --json |
      $py -c 'import json,sys
pp, j = json.loads(sys.argv[2]), json.loads(sys.stdin.read())
print(json.dumps({"engine": "adallava", "type": sys.argv[1], "prefill": pp["prefill_tokens_per_s"],
                  "decode": j["decode_tokens_per_s"], "roofline": j["decode_fraction_of_roofline"],
                  "gbps": j["dram_read_gb_per_s"], "cpu": j["kernels"]["cpu"]}))' "$t" "$pp" >> "$results"
  done
done

$py - "$results" "$preset" "$threads" "$prompt" "$decode" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
preset, threads, prompt, decode = sys.argv[2:6]
best = {}
for r in rows:  # the best round of each engine and type
    k = (r["engine"], r["type"])
    b = best.setdefault(k, dict(r))
    for m in ("prefill", "decode"):
        b[m] = max(b[m], r[m])
    if r["engine"] == "adallava" and r["decode"] >= b["decode"]:
        b["roofline"], b["gbps"] = r["roofline"], r["gbps"]
cpu = next(r["cpu"] for r in rows if r["engine"] == "adallava")
print(f"{preset}, {threads} threads, prompt {prompt}, decode {decode}; CPU: {cpu}")
print(f"| type | llama.cpp prefill | adallava prefill | ratio | llama.cpp decode | adallava decode | ratio | adallava decode / roofline |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
summary = []
for t in sorted({r["type"] for r in rows}):
    l, a = best[("llama.cpp", t)], best[("adallava", t)]
    print(f"| {t} | {l['prefill']:.1f} | {a['prefill']:.1f} | {a['prefill'] / l['prefill']:.2f} | "
          f"{l['decode']:.2f} | {a['decode']:.2f} | {a['decode'] / l['decode']:.2f} | {a['roofline']:.2f} |")
    summary.append({"type": t, "llama_cpp": {"prefill": l["prefill"], "decode": l["decode"]},
                    "adallava": {"prefill": a["prefill"], "decode": a["decode"], "roofline": a["roofline"]}})
print(json.dumps({"preset": preset, "threads": int(threads), "cpu": cpu, "results": summary}))
EOF
