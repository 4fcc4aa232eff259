#!/usr/bin/env bash
# scripts/replicas.sh end to end: two replicas behind nginx take a load (streamed answers pass
# through), one replica dies, the health loop takes it out, the load still gets every answer,
# and stopping the script stops everything.
set -euo pipefail
bin="$1" model="$2" image="$3" root="$(cd "$(dirname "$0")/../.." && pwd)"
port=$((20000 + ($$ % 4000) * 2)) base=$((28000 + ($$ % 4000) * 2))
log="$(mktemp)"
ADALLAVA_BIN="$bin" bash "$root/scripts/replicas.sh" -m "$model" -n 2 --port "$port" --base-port "$base" >"$log" 2>&1 &
script=$!
trap 'kill $script 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 1 300); do grep -q '^ready' "$log" && break; sleep 0.2; done
grep -q '^ready' "$log" || { cat "$log"; exit 1; }

load() {  # every good request answered, every bad one refused with a JSON error
  "$bin" loadgen --url "http://127.0.0.1:$port" --clients 4 --duration-s "$1" --rate 8 --image "$image" \
    --stream-share 0.5 --json | /usr/bin/python3 -c '
import json, sys
r = json.load(sys.stdin)
ok = r["good_requests"] > 0 and r["good_answered"] == r["good_requests"] and \
     r["bad_refused_with_json_error"] == r["bad_requests"] and not r["failures"]
print("through nginx:", {k: r[k] for k in ("good_requests", "good_answered", "bad_requests", "failures")})
sys.exit(0 if ok else 1)'
}
load 4
pkill -9 -f -- "serve -m $model --port $base" || { echo "replica 0 not found"; exit 1; }
for _ in $(seq 1 50); do grep -q "health now" "$log" && break; sleep 0.2; done
grep -q "health now" "$log" || { echo "the health loop did not notice"; cat "$log"; exit 1; }
load 3
kill "$script"
wait "$script" || true
sleep 0.5
if pgrep -f -- "--port $((base + 1))" >/dev/null; then echo "a replica outlived the script"; exit 1; fi
if curl -s -m 1 "http://127.0.0.1:$port/health" >/dev/null; then echo "nginx outlived the script"; exit 1; fi
echo "replicas: ok"
