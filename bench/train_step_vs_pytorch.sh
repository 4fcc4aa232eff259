#!/usr/bin/env bash
# The engine's training step against the same step in PyTorch, interleaved rounds on the same
# machine (it is shared and noisy: compare within one run). Prints each round and the medians.
#   bash bench/train_step_vs_pytorch.sh [ROUNDS]   (needs build/adallava, python3-torch, libopenblas0-pthread)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
engine=() torch=()
for ((i = 0; i < rounds; i++)); do
  e=$(build/adallava bench --synthetic ada-llava-small --dtype f32 --train-step --steps 4 --json |
      /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["step_ms"])')
  t=$(/usr/bin/python3 bench/pytorch_train_step.py --steps 4 |
      /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["step_ms"])')
  echo "round $((i + 1)): engine ${e} ms, pytorch ${t} ms per step"
  engine+=("$e") torch+=("$t")
done
/usr/bin/python3 - "${engine[*]}" "${torch[*]}" <<'PY'
import statistics, sys
e = statistics.median(map(float, sys.argv[1].split()))
t = statistics.median(map(float, sys.argv[2].split()))
print(f"median step: engine {e:.0f} ms, pytorch {t:.0f} ms; engine is {t / e:.2f}x faster")
PY
