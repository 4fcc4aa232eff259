"""What a request gives back: the answer, the plan that ran and the timings."""
import json
from dataclasses import dataclass
from functools import cached_property


@dataclass(frozen=True)
class Token:
    """A streamed token: its id and the text it adds ("" while a character is split)."""
    id: int
    text: str


@dataclass(frozen=True)
class LayerPlan:
    """A decoder layer that runs, with the heads and MLP neuron groups it runs (all of them under L)."""
    layer: int
    heads: list
    mlp_groups: list


@dataclass(frozen=True)
class Plan:
    """The execution plan of a request: AdaLLaVA's scheduler's choice for its budget."""
    budget: float
    units: int | None  # the scheduler's units for the budget (None for a plain LLaVA)
    executed_fraction: float  # of the decoder's compute
    source: str  # scheduler, full, early-exit, random, layers
    executed_layers: list
    layers: list  # LayerPlan per executed layer

    @staticmethod
    def from_report(report):
        plan = report["plan"]
        return Plan(budget=report["budget"], units=report["units"], executed_fraction=report["executed_fraction"],
                    source=report["plan_source"], executed_layers=plan["executed_layers"],
                    layers=[LayerPlan(p["layer"], p["heads"], p["mlp_groups"]) for p in plan["layers"]])


class Result:
    """One answered request. text, ids and finish_reason are read at once; the rest (the report
    `adallava run --json` prints) is parsed on first use, so a caller that needs only the text
    does not pay for it."""

    def __init__(self, raw):
        self._raw = raw
        self.text = raw.text
        self.ids = raw.ids
        self.finish_reason = raw.finish_reason  # stop, length, cancelled or deadline

    @cached_property
    def report(self):
        """Everything the engine reported, as `adallava run --json` prints it."""
        return json.loads(self._raw.json())

    @property
    def plan(self):
        return Plan.from_report(self.report)

    @property
    def timings(self):
        """Milliseconds per phase: vision, prefill, decode, total."""
        return dict(self.report["timings_ms"])

    @property
    def deadline(self):
        """With a deadline: deadline_ms, predicted_ms, met and the predicted phases; else None."""
        r = self.report
        if "deadline_ms" not in r:
            return None
        return {k: r[k] for k in ("deadline_ms", "predicted_ms", "met", "predicted_timings_ms", "threads")}

    def __repr__(self):
        return f"Result(text={self.text!r}, finish_reason={self.finish_reason!r})"
