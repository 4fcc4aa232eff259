#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ (clang, ASan + UBSan) in build-fuzz and runs each for
# SECONDS (default 30) from its seed corpus and regression inputs, with its dictionary where it
# has one. Fails on any crash, leak, timeout, huge allocation or sanitizer report; the input at
# fault is kept in build-fuzz/crashes/<target>/ (turn it into fuzz/regressions/<target>/<name>).
# What libFuzzer learns goes to build-fuzz/corpus/<target>/, not into the repository. Prints a
# table of executions, speed and coverage per target, and writes build-fuzz/fuzz-summary.json.
#   scripts/fuzz.sh [SECONDS] [TARGET...]      (ADALLAVA_FUZZ_PARALLEL=1: all targets at once)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
shift || true
build=build-fuzz
jobs=$(nproc)

CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DADALLAVA_FUZZ=ON \
  -DADALLAVA_TESTS=OFF -DADALLAVA_PYTHON=OFF >/dev/null
cmake --build "$build" --target fuzz_all -j "$jobs"

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in fuzz/corpus/*/; do targets+=("$(basename "$f")"); done
fi

mkdir -p "$build/logs"
# One target: its log in build-fuzz/logs/<target>.log, its status in <target>.status.
run_target() {
  local t=$1 log="$build/logs/$1.log"
  mkdir -p "$build/corpus/$t" "$build/crashes/$t"
  local inputs=("$build/corpus/$t" "fuzz/corpus/$t") dict=()
  [ -d "fuzz/regressions/$t" ] && inputs+=("fuzz/regressions/$t")
  [ -f "fuzz/dict/$t.dict" ] && dict=("-dict=fuzz/dict/$t.dict")
  local status=0
  "$build/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2560 -malloc_limit_mb=1024 \
    -max_len=200000 -print_final_stats=1 -artifact_prefix="$build/crashes/$t/" "${dict[@]}" "${inputs[@]}" \
    >"$log" 2>&1 || status=$?
  echo "$status" >"$build/logs/$t.status"
}

# ADALLAVA_FUZZ_PARALLEL=1: every target at once (a long run sharing the cores), else one by one.
for t in "${targets[@]}"; do
  echo "== fuzz_$t for ${seconds}s"
  if [ "${ADALLAVA_FUZZ_PARALLEL:-0}" = 1 ]; then run_target "$t" & else run_target "$t"; fi
done
wait

failed=()
rows=()
for t in "${targets[@]}"; do
  log="$build/logs/$t.log"
  if [ "$(cat "$build/logs/$t.status")" != 0 ]; then
    failed+=("$t")
    tail -40 "$log"
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  corpus=$(find "$build/corpus/$t" -type f | wc -l)
  rows+=("$t ${execs:-0} ${speed:-0} ${cov:-0} ${ft:-0} $corpus")
done

echo
printf '%-22s %12s %10s %8s %8s %8s\n' target executions exec/s cov ft corpus
for r in "${rows[@]}"; do printf '%-22s %12s %10s %8s %8s %8s\n' $r; done
printf '%s\n' "${rows[@]}" | awk -v s="$seconds" -v cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')" '
  BEGIN { printf "{\"seconds_per_target\": %s, \"cpu\": \"%s\", \"targets\": [", s, cpu }
  { printf "%s{\"target\": \"%s\", \"executions\": %s, \"exec_per_s\": %s, \"cov\": %s, \"ft\": %s, \"corpus\": %s}",
      (NR > 1 ? ", " : ""), $1, $2, $3, $4, $5, $6 }
  END { print "]}" }' >"$build/fuzz-summary.json"

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: findings in ${failed[*]} (inputs in $build/crashes/)" >&2
  exit 1
fi
echo "fuzz: no findings in ${#targets[@]} targets"
