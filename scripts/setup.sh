#!/usr/bin/env bash
# Installs every build and test dependency: Debian's packages, and the npm packages of the
# server's client test. Idempotent: what is already present is left alone, and apt and npm are
# only asked when something is missing.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libsentencepiece-dev sentencepiece   # tokenizer (runtime + trainer)
  nlohmann-json3-dev                   # config.json, safetensors headers, --json output
  libstb-dev                           # PNG/BMP/GIF decoding
  libjpeg62-turbo-dev                  # JPEG decoding, the same library Pillow uses
  libcli11-dev                         # command-line parsing
  libgtest-dev libgmock-dev            # tests
  stress-ng                            # bench/contention.sh: load that other jobs put on the machine
  libcpp-httplib-dev libssl-dev        # adallava serve: HTTP, base64, SHA-256
  chromium chromium-driver python3-selenium  # the playground's browser test
  nginx curl                           # scripts/replicas.sh: replicas behind a balancer
  pybind11-dev python3-dev python3-venv python3-numpy  # the Python package (python/), pip install .
  python3-pytest python3-pil python3-matplotlib        # its tests and examples/
  clang libclang-rt-dev libomp-dev     # scripts/fuzz.sh: libFuzzer, sanitizers and OpenMP for clang
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: all dependencies present"
fi

# The openai client the server's tests use, from the npm registry, at the versions the lock file
# names (tests/js/package-lock.json); nothing is fetched once it is there.
js="$(cd "$(dirname "$0")/.." && pwd)/tests/js"
if [ ! -d "$js/node_modules/openai" ]; then
  echo "setup: installing the npm packages of tests/js"
  (cd "$js" && npm ci --no-audit --no-fund --loglevel=error)
fi
