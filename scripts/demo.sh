#!/usr/bin/env bash
# The main job on a fresh machine: install, build, and answer questions about an example image
# under several budgets with the shipped AdaLLaVA models (trained here by scripts/recipe.sh),
# then a short benchmark of an adaptive model's speed per budget (random weights, no files).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
image=models/examples/scene-1.png
for variant in L H; do
  model=models/adallava-tiny-$variant
  echo "== adallava run -m $model --image $image, budgets 1, 0.75 and 0.5"
  for question in "How many shapes are there?" "What shape is the red object?"; do
    for budget in 1 0.75 0.5; do
      echo "-- $question (budget $budget)"
      ./build/adallava run -m "$model" --image "$image" -p "$question" --budget "$budget"
    done
  done
done
echo "== adallava bench --synthetic ada-llava-tiny --variant H (random weights)"
./build/adallava bench --synthetic ada-llava-tiny --variant H --budgets 1,0.75,0.5 --json
