#!/usr/bin/env bash
# The test command: installs what is missing, builds, runs the suite, then runs it again under
# AddressSanitizer + UBSan, then fuzzes every parser for a short while. ADALLAVA_FIXTURES overrides the fixture folder (tests/fixtures).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
jobs=$(nproc)

echo "== release build and tests"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$jobs"
ctest --test-dir build --output-on-failure -j "$jobs"

# The kernel and model-parity tests once more under each kernel set this CPU runs, so a path the
# automatic choice does not take here (AVX2 on an AVX-512 machine, FMAs for bf16 where vdpbf16ps
# is fast) still turns the run red.
parity='^(Matmul|MatmulQuant|Quant|GgufLlava|Types/GgufLlava|KernelChoice|Ops|Attention|LlavaFixture|LlamaFixture|ExecutionPlan|AdaLlavaFixture|PruMergeFixture|PruMerge|FastV|DecoderLayer|AdaTrainStep|VisionTower|GradOps|PlanSampling|BatchStep|BatchSpans|StepBatcher)\.'
build/adallava info
for set in $(build/adallava info --kernel-sets); do
  echo "== kernel and parity tests under ADALLAVA_KERNELS=$set"
  ADALLAVA_KERNELS=$set ctest --test-dir build --output-on-failure -j "$jobs" -R "$parity"
done

echo "== AddressSanitizer + UBSan build and tests"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DADALLAVA_SANITIZE=ON >/dev/null
cmake --build build-asan -j "$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j "$jobs"

echo "== fuzzing: every libFuzzer target for 30 s (clang, ASan + UBSan)"
bash scripts/fuzz.sh 30

echo "== mutated models, configs, tokenizers and images through adallava run (ASan + UBSan build)"
ASAN_OPTIONS=detect_leaks=1 /usr/bin/python3 fuzz/mutate_run.py --runs 400 --adallava build-asan/adallava \
  --keep build-asan/mutations
