#!/usr/bin/env bash
# Reproduces the shipped models, models/adallava-tiny-L and models/adallava-tiny-H, from nothing:
#   1. data     adallava synth: 8,000 training scenes of one to three shapes with six questions
#               each, a caption of each (pretrain.json), look-up questions (retrieval.json) and
#               a tokenizer; and 12,000 held-out one-question scenes for L's scheduler
#   2. stage 1  a small LLaVA trained from random weights, everything training (CLIP-style tower
#               whose position embedding starts as sine-cosine features of each patch's row and
#               column, projector, 8-layer LLaMA decoder), as LLaVA trains: caption pre-training with the
#               plain template first (it teaches the tower and projector to see every object),
#               then a look-up curriculum (it teaches the decoder to find the object a question
#               names, which the mixed questions alone did not in 3,000 steps), then
#               instruction tuning on the questions and look-ups together (vicuna_v1), the
#               second half of the decoder first on its own (--train gated), then everything
#   3. stage 2  AdaLLaVA-L and AdaLLaVA-H made from it (--variant), random budgets; the vision
#               tower and the always-on prefix frozen (--train gated); then L's scheduler head
#               on the exact expected answer error of every plan, on the held-out scenes
#   4. export   bf16 copies into models/, and an evaluation on a fresh test split (a seed never
#               used in training) with the scheduler and the early-exit and random baselines
# Resumable: a finished step is skipped, a stopped training continues from its last save.
#   bash scripts/recipe.sh            (work files in build/recipe, ADALLAVA_RECIPE_DIR overrides)
set -euo pipefail
cd "$(dirname "$0")/.."
work=${ADALLAVA_RECIPE_DIR:-build/recipe}
bin=build/adallava
bash scripts/build.sh
mkdir -p "$work"
start=$(date +%s)
log() { echo "== [$(($(date +%s) - start)) s] $*"; }

if [ ! -f "$work/data/tokenizer.model" ]; then
  log "synthetic data"
  "$bin" synth --out "$work/data" --n 8000 --val 500 --turns 6 --caption-last --min-objects 1 --max-objects 3 --seed 11
fi
if [ ! -f "$work/held/tokenizer.model" ]; then
  log "held-out scenes for the scheduler (seed 31)"
  "$bin" synth --out "$work/held" --n 12000 --val 0 --test 0 --turns 1 --min-objects 1 --max-objects 3 --seed 31
fi
if [ ! -f "$work/init/model.safetensors" ]; then
  log "random LLaVA"
  "$bin" init --out "$work/init" --tokenizer "$work/data/tokenizer.model" --patch 24 --seed 1 --grid-positions 1
fi

# train OUT ARGS...: trains into OUT unless OUT/DONE exists; continues a stopped run.
train() {
  local out=$1
  shift
  if [ -f "$out/DONE" ]; then return; fi
  log "train $out"
  if [ -f "$out/trainer_state.json" ]; then
    "$bin" train --out "$out" --resume --save-every 100 "$@"
  else
    "$bin" train --out "$out" --save-every 100 "$@"
  fi
  touch "$out/DONE"
}
strip_variant() {  # --resume continues the run's own checkpoint: no -m, --variant, --prefix, --rank
  local out=()
  while [ $# -gt 0 ]; do
    case $1 in -m | --variant | --prefix | --rank) shift 2 ;; *) out+=("$1"); shift ;; esac
  done
  echo "${out[@]}"
}

images=(--images "$work/data/images")
qa=(--data "$work/data/train.json" "$work/data/retrieval.json" "${images[@]}")
# Captions: the first 500 steps of a 2,000-step schedule (its learning rate still near the peak:
# every attribute is read by then, and 5e-4 or a schedule that decays sooner stalled with the
# shapes unread).
pretrain=(-m "$work/init" --data "$work/data/pretrain.json" "${images[@]}" --template plain --train all --steps 2000
  --stop-after 500 --batch 16 --lr 3e-4 --warmup 100 --seed 1)
lookup=(-m "$work/pretrain" --data "$work/data/retrieval.json" "${images[@]}" --train all --steps 800 --batch 16 --lr 5e-4
  --warmup 50 --seed 1)
# Stage 1 in two phases. First only the second half of the decoder trains on the questions
# (--train gated), so that the layers a budget can skip learn to carry the relations; then all.
gatedfirst=(-m "$work/lookup" "${qa[@]}" --train gated --steps 800 --batch 16 --lr 5e-4 --warmup 50 --seed 1)
stage1=(-m "$work/gatedfirst" "${qa[@]}" --train all --steps 3000 --batch 16 --lr 5e-4 --warmup 100 --seed 3)
# Stage 2 on the questions without captions: the latency token goes before a conversation's last
# answer, and that must be an answer to a question. Only the scheduler, the latency encoder and
# the four gated layers train (--train gated): with the whole LLM training (even at lr 1e-4 for
# 300 steps) the always-on first four layers learn to count too and the gated layers carry
# nothing a budget could take away. The new scheduler learns at its own, higher rate.
# L trains longer (its single gated layer at 0.625 catches up), each input mostly on its
# scheduler's own plans (--plan-noise 0.5).
stage2=(-m "$work/stage1" --data "$work/data/train-questions.json" "${images[@]}" --train gated --batch 16 --lr 3e-4
  --scheduler-lr 1e-3 --warmup 50 --seed 2 --prefix 4)
# Then L's scheduler head alone on the exact expectation over every plan of each answer error
# (--train scheduler-exact --plan-score answer-error), on scenes the LLM never saw: on its own
# training questions every pair of gated layers answers alike, and the head learnt one plan.
exact=(-m "$work/L" --data "$work/held/train.json" --images "$work/held/images" --train scheduler-exact
  --plan-score answer-error --steps 1500 --batch 16 --lr 3e-3 --warmup 30 --seed 5)
for spec in "pretrain:${pretrain[*]}" "lookup:${lookup[*]}" "gatedfirst:${gatedfirst[*]}" "stage1:${stage1[*]}" \
  "L:${stage2[*]} --steps 1500 --plan-noise 0.5 --variant L" "Lexact:${exact[*]}" \
  "H:${stage2[*]} --steps 600 --variant H --rank 2"; do
  name=${spec%%:*}
  read -r -a args <<<"${spec#*:}"
  out="$work/$name"
  if [ -f "$out/trainer_state.json" ] && [ ! -f "$out/DONE" ]; then
    read -r -a args <<<"$(strip_variant "${args[@]}")"
  fi
  train "$out" "${args[@]}"
done

log "export (bf16)"
for v in L H; do
  from=$work/$v
  if [ "$v" = L ]; then from=$work/Lexact; fi
  "$bin" convert -m "$from" --out "models/adallava-tiny-$v" --dtype bf16
  rm -f "models/adallava-tiny-$v"/{trainer_state.json,optimizer.safetensors}
done

if [ ! -f "$work/fresh/test.json" ]; then
  log "fresh test split (seed 2027, never used in training)"
  "$bin" synth --out "$work/fresh" --n 1 --val 0 --test 1000 --min-objects 1 --max-objects 3 --seed 2027
fi
fresh=(--data "$work/fresh/test.json" --images "$work/fresh/images")
log "example images"
mkdir -p models/examples
for i in 1 2 3; do cp "$work/fresh/images/test-00000$i.png" "models/examples/scene-$i.png"; done
log "evaluate"
"$bin" eval -m "$work/stage1" "${fresh[@]}" --report models/reports/stage1
for v in L H; do
  "$bin" eval -m "models/adallava-tiny-$v" "${fresh[@]}" --budgets 1,0.875,0.75,0.625,0.5 \
    --plan scheduler,early-exit,random --report "models/reports/adallava-tiny-$v"
done
log "done: models/adallava-tiny-L, models/adallava-tiny-H; reports in models/reports"
