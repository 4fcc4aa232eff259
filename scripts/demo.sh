#!/usr/bin/env bash
# The main job on a fresh machine: install, build, answer about an image, and benchmark the
# real LLaVA-1.5-7B shapes briefly. Uses the tiny LLaVA checkpoint from the fixtures until the
# project ships its own trained model.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
fixtures="${ADALLAVA_FIXTURES:-../shared/fixtures}"
model="$fixtures/llava_tiny_bf16"
echo "== adallava run (tiny LLaVA, bf16 weights)"
./build/adallava run -m "$model" --image "$model/image.png" --ids 1,17,42,5,300,13,111,222,99,64,187,29 -n 8 --json
echo "== adallava bench --synthetic llava-tiny"
./build/adallava bench --synthetic llava-tiny --json
