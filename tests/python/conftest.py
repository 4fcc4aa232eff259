"""Shared pieces of the Python package's tests: where the fixtures and the shipped models are,
and models loaded once per test module. Run through ctest (PYTHONPATH=<build>/python)."""
import json
import os
import pathlib

import numpy as np
import pytest

import adallava

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = pathlib.Path(os.environ.get("ADALLAVA_FIXTURES", ROOT / "tests" / "fixtures"))
MODELS = ROOT / "models"

# The fixtures' tolerance for logits (tests/fixtures/README.md), as the C++ tests use it.
LOGITS_ATOL = 1e-4


class Fixture:
    """An AdaLLaVA fixture folder: its checkpoint, prompt ids, image and per-budget outputs."""

    def __init__(self, name):
        self.dir = FIXTURES / name
        self.manifest = json.loads((self.dir / "manifest.json").read_text())
        self.ids = np.load(self.dir / "input_ids.npy").reshape(-1).tolist()
        self.budgets = np.load(self.dir / "budgets.npy").tolist()
        self.image = self.dir / "image.png"

    def npy(self, name):
        return np.load(self.dir / name)


@pytest.fixture(scope="module", params=["adallava_tiny_L", "adallava_tiny_H"])
def ada(request):
    f = Fixture(request.param)
    f.model = adallava.Model(f.dir, threads=1, precision="f32")
    return f


@pytest.fixture(scope="module")
def long_runner():
    """The L fixture's random-weight model with its prompt: it never ends a sequence, so a
    request runs as long as max_tokens asks (about 0.2 ms a token)."""
    f = Fixture("adallava_tiny_L")
    f.model = adallava.Model(f.dir, threads=1)
    return f


@pytest.fixture(scope="module")
def tiny_L():
    return adallava.Model(MODELS / "adallava-tiny-L", threads=1)


@pytest.fixture(scope="module")
def scene():
    return MODELS / "examples" / "scene-1.png"
