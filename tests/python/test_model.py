"""adallava.Model against the AdaLLaVA authors' outputs (tests/fixtures): logits of every prompt
position within the fixtures' tolerance, the scheduler's plans exactly, greedy ids exactly."""
import numpy as np
import pytest

import adallava
from conftest import FIXTURES, LOGITS_ATOL, MODELS


def test_logits_of_every_position_match_the_authors_for_every_budget(ada):
    want = ada.npy("prefill_logits.npy")
    for b, budget in enumerate(ada.budgets):
        got = ada.model.logits(ada.ids, image=ada.image, budget=budget)
        assert got.dtype == np.float32 and got.shape == want[b].shape
        np.testing.assert_allclose(got, want[b], rtol=0, atol=LOGITS_ATOL, err_msg=f"budget {budget}")


def test_plan_is_the_authors_plan_for_every_budget(ada):
    for budget in ada.budgets:
        want = ada.manifest["plans"][repr(float(budget))]
        plan = ada.model.plan(budget, ids=ada.ids, image=ada.image)
        assert plan.budget == budget
        assert plan.units == want["units"]
        assert plan.executed_layers == want["executed_layers"]
        by_layer = {p.layer: p for p in plan.layers}
        for gated in want["gated_layers"]:
            if gated["executed"]:
                assert by_layer[gated["layer"]].heads == gated["active_heads"], f"budget {budget}"
                assert by_layer[gated["layer"]].mlp_groups == gated["active_mlp_groups"], f"budget {budget}"
            else:
                assert gated["layer"] not in by_layer


def test_generate_gives_the_authors_greedy_ids_and_reports_the_plan_that_ran(ada):
    want = ada.npy("generated_ids.npy")
    for b, budget in enumerate(ada.budgets):
        r = ada.model.generate(ids=ada.ids, image=ada.image, budget=budget, max_tokens=want.shape[1])
        n = len(r.ids)  # the authors' generate ran on past an end of sequence; ours stops there
        assert r.ids == want[b][:n].tolist(), f"budget {budget}"
        assert n == want.shape[1] or r.finish_reason == "stop"
        assert r.plan == ada.model.plan(budget, ids=ada.ids, image=ada.image)
        assert set(r.timings) == {"vision", "prefill", "decode", "total"}


def test_a_question_is_the_prompt_ids_it_makes(tiny_L, scene):
    ids = tiny_L.prompt_ids("What shape is the object?", image=True)
    assert ids.count(-200) == 1 and -200 not in tiny_L.prompt_ids("What shape is the object?", image=False)
    by_text = tiny_L.generate("What shape is the object?", image=scene, max_tokens=5)
    assert tiny_L.generate(ids=ids, image=scene, max_tokens=5).ids == by_text.ids
    assert by_text.report["prompt_ids"] == ids


def test_model_facts(tiny_L):
    assert tiny_L.adaptive and tiny_L.n_layers == 8 and tiny_L.n_vocab > 0
    assert adallava.__version__.count(".") == 2


def test_a_smaller_budget_runs_less_and_a_deadline_reports_itself(tiny_L, scene):
    full = tiny_L.generate("What shape is the object?", image=scene, max_tokens=4)
    half = tiny_L.generate("What shape is the object?", image=scene, max_tokens=4, budget=0.5)
    assert half.plan.executed_fraction < full.plan.executed_fraction == 1.0
    assert full.deadline is None
    timed = tiny_L.generate("What shape is the object?", image=scene, max_tokens=4, deadline_ms=60_000)
    assert timed.deadline["deadline_ms"] == 60_000 and timed.deadline["met"] is True


def test_bad_requests_raise_with_the_engines_message(tiny_L, tmp_path):
    with pytest.raises(adallava.Error, match="budget"):
        tiny_L.generate("hi", budget=1.5)
    with pytest.raises(adallava.Error, match="max_tokens"):
        tiny_L.generate("hi", max_tokens=0)
    with pytest.raises(ValueError, match="prompt or ids"):
        tiny_L.generate()
    with pytest.raises(ValueError, match="not both"):
        tiny_L.generate("hi", budget=0.5, deadline_ms=100)
    with pytest.raises(adallava.Error):
        tiny_L.generate("hi", deadline_ms=0.001)  # no plan fits
    with pytest.raises(adallava.Error, match="logits"):
        tiny_L.logits([])
    with pytest.raises(adallava.Error, match="/nonexistent/model"):
        adallava.Model("/nonexistent/model")
    bad = tmp_path / "config.json"
    bad.write_text("{not json")
    with pytest.raises(adallava.Error, match="config.json"):
        adallava.Model(tmp_path)
    with pytest.raises(adallava.Error, match="f64"):
        adallava.Model(MODELS / "adallava-tiny-L", precision="f64")


@pytest.mark.parametrize("quant", ["Q8_0", "Q4_0", "Q4_K_M"])
def test_a_llama_cpp_gguf_pair_gives_the_reference_logits(quant):
    d = FIXTURES / "gguf_llava_tiny"
    m = adallava.Model(d / f"ggml-model-{quant}.gguf", mmproj=d / "mmproj-model-f16.gguf", threads=1, precision="f32")
    got = m.logits(np.load(d / "input_ids.npy").tolist(), image=d / "image.png")
    np.testing.assert_allclose(got, np.load(d / f"logits_{quant}.npy"), rtol=0, atol=LOGITS_ATOL)
