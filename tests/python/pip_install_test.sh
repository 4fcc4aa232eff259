#!/usr/bin/env bash
# `pip install .` offline (no index) into a fresh virtual environment, reusing this build
# folder, then the installed package answers a question from outside the source tree.
#   tests/python/pip_install_test.sh BUILD_DIR PYTHON
set -euo pipefail
build=$1 python=$2
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$python" -m venv --system-site-packages "$tmp/venv"  # numpy from Debian's python3-numpy
ADALLAVA_BUILD_DIR="$build" "$tmp/venv/bin/pip" install --no-index --quiet --disable-pip-version-check "$root"
cd "$tmp"
env -u PYTHONPATH "$tmp/venv/bin/python" - "$tmp/venv" "$root/models" <<'PY'
import pathlib, sys
import adallava
venv, models = map(pathlib.Path, sys.argv[1:])
assert pathlib.Path(adallava.__file__).is_relative_to(venv), adallava.__file__
m = adallava.Model(models / "adallava-tiny-L", threads=1)
r = m.generate("What shape is the object?", image=models / "examples" / "scene-1.png", budget=0.75, max_tokens=8)
assert r.ids and r.plan.executed_fraction <= 0.75, r
print(f"installed {adallava.__version__} answered {r.text!r} with layers {r.plan.executed_layers}")
PY
