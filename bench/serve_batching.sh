#!/usr/bin/env bash
# The server with batched steps against the same server without (serve --no-batching), under
# `adallava loadgen` with N clients sending as fast as they are answered, interleaved rounds.
# Prints one JSON line per run and a summary: answered requests/s and completion tokens/s.
#
#   bash bench/serve_batching.sh MODEL_DIR [--clients 8] [--seconds 20] [--rounds 2]
#                                [--max-tokens 16] [--threads 2] [--deadline-ms D]
set -euo pipefail
model=${1:?usage: bench/serve_batching.sh MODEL_DIR [options]}; shift
clients=8 seconds=20 rounds=2 max_tokens=16 threads=2 deadline=0
while [ $# -gt 0 ]; do
  case $1 in
    --clients) clients=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --max-tokens) max_tokens=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --deadline-ms) deadline=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${ADALLAVA:-$here/build/adallava}
image=$here/models/examples/scene-1.png
out=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$out"; }
trap cleanup EXIT INT TERM

one_run() {  # $1: label, $2: extra serve flags
  local port=$((20000 + RANDOM % 20000))
  "$bin" serve -m "$model" --port $port --parallel "$clients" --queue 64 -t "$threads" $2 2>"$out/serve.log" &
  pid=$!
  for _ in $(seq 600); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
  "$bin" loadgen --url "http://127.0.0.1:$port" --clients "$clients" --duration-s "$seconds" --rate 10000 \
    --malformed 0 --max-tokens "$max_tokens" --deadline-ms "$deadline" --deadline-share 1 \
    --image "$image" --json > "$out/run.json"
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
  python3 - "$1" "$out/run.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[2]))
print(json.dumps({"server": sys.argv[1], **{k: j[k] for k in ("good_answered", "seconds", "p50_ms", "p99_ms",
      "deadline_miss_rate") if k in j}, "answered_per_s": j["good_answered"] / j["seconds"]}))
PY
}

for r in $(seq "$rounds"); do
  one_run batched "" | tee -a "$out/all"
  one_run unbatched --no-batching | tee -a "$out/all"
done
python3 - "$out/all" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
best = {}
for r in rows:
    best[r["server"]] = max(best.get(r["server"], 0), r["answered_per_s"])
print(json.dumps({"batched_answered_per_s": best["batched"], "unbatched_answered_per_s": best["unbatched"],
                  "throughput_ratio": best["batched"] / best["unbatched"]}))
PY
