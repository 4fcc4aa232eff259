#!/usr/bin/env bash
# The main job on a fresh machine: install, build, answer about an image, and benchmark the
# tiny shapes briefly. Uses the tiny LLaVA and AdaLLaVA checkpoints from the fixtures until the
# project ships its own trained model.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
fixtures="${ADALLAVA_FIXTURES:-../shared/fixtures}"
model="$fixtures/llava_tiny_bf16"
echo "== adallava run (tiny LLaVA, bf16 weights)"
./build/adallava run -m "$model" --image "$model/image.png" --ids 1,17,42,5,300,13,111,222,99,64,187,29 -n 8 --json
ada="$fixtures/adallava_tiny_H"
# The fixture's prompt (its input_ids.npy): a vicuna_v1 prompt in a toy vocabulary, -200 = image.
ids="1,3,40,77,114,151,188,225,262,299,19,56,93,130,56,167,204,241,278,241,225,315,35,72,109,146,183,93,220,257,294,-200,14,51,88,125,162,199,236,273,310,257"
echo "== adallava run (tiny AdaLLaVA-H from the authors' code) at budgets 1.0 and 0.6"
for budget in 1.0 0.6; do
  ./build/adallava run -m "$ada" --image "$ada/image.png" --ids "$ids" -n 8 --ignore-eos --budget "$budget" --json
done
echo "== adallava bench --synthetic llava-tiny"
./build/adallava bench --synthetic llava-tiny --json
echo "== adallava bench --synthetic ada-llava-tiny --variant H"
./build/adallava bench --synthetic ada-llava-tiny --variant H --budgets 1,0.75,0.5 --json
