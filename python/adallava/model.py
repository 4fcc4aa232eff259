"""A loaded model and the requests it answers."""
import json
import os

from . import _adallava
from .images import to_image
from .result import Plan, Result
from .stream import Stream


def _check_prompt(prompt, ids):
    if (prompt is None) == (ids is None):
        raise ValueError("give a prompt or ids, one of them")
    return prompt, None if ids is None else [int(i) for i in ids]


class Model:
    """A LLaVA or AdaLLaVA checkpoint: a folder (safetensors + config.json) or a llama.cpp GGUF
    text model with its mmproj. One Model serves several threads at once."""

    def __init__(self, path, threads=0, mmproj=None, precision=None):
        """threads: compute threads (0: every core); precision: "f32", "bf16" or "q8" (default:
        the weights' own where the CPU has a kernel for it)."""
        self._m = _adallava.Model(os.fspath(path), int(threads), None if mmproj is None else os.fspath(mmproj),
                                  precision)

    @property
    def adaptive(self):
        """Whether the checkpoint is AdaLLaVA (takes budgets)."""
        return self._m.adaptive

    @property
    def n_layers(self):
        return self._m.n_layers

    @property
    def n_vocab(self):
        return self._m.n_vocab

    def generate(self, prompt=None, *, image=None, ids=None, budget=None, deadline_ms=None, max_tokens=128,
                 temperature=0.0, top_p=1.0, top_k=0, seed=0, stream=False):
        """Answer a question (wrapped in the chat template) or exact prompt ids, about an image.
        budget: AdaLLaVA's share of the decoder in [0, 1]; deadline_ms: finish within this many
        ms, the engine picking the budget. Returns a Result, or with stream=True a Stream of
        Tokens whose `result` is the Result."""
        prompt, ids = _check_prompt(prompt, ids)
        if budget is not None and deadline_ms is not None:
            raise ValueError("give a budget or a deadline_ms, not both")
        img = to_image(image)

        def start(on_token):
            return self._m.generate(prompt, ids, img, int(max_tokens), float(temperature), float(top_p), int(top_k),
                                    int(seed), 1.0 if budget is None else float(budget),
                                    0.0 if deadline_ms is None else float(deadline_ms), on_token)

        return Stream(start) if stream else Result(start(None))

    def prompt_ids(self, question, image=True):
        """The prompt ids of a question in the chat template, as generate builds them; with
        image=True the image token (-200, LLaVA's) marks where the image goes."""
        return self._m.prompt_ids(question, bool(image))

    def logits(self, ids, image=None, budget=None):
        """Logits of every prompt position, a float32 array (rows, vocab); for AdaLLaVA the last
        row is the latency token's (the first generated token's logits)."""
        return self._m.logits([int(i) for i in ids], to_image(image), 1.0 if budget is None else float(budget))

    def plan(self, budget, prompt=None, *, ids=None, image=None):
        """The plan a request gets at this budget, without generating: AdaLLaVA's scheduler
        chooses per request, so it needs the prompt (or ids) and the image."""
        prompt, ids = _check_prompt(prompt, ids)
        return Plan.from_report(json.loads(self._m.plan_json(prompt, ids, to_image(image), float(budget))))
