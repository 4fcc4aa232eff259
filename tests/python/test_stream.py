"""Streaming, stopping a request from Python, and the GIL released while the engine computes."""
import sys
import threading
import time

import pytest

import adallava

QUESTION = "What shape is the object?"


def test_streamed_tokens_make_the_result(tiny_L, scene):
    stream = tiny_L.generate(QUESTION, image=scene, max_tokens=6, stream=True)
    tokens = list(stream)
    r = stream.result
    assert [t.id for t in tokens] == r.ids and len(r.ids) > 0
    assert "".join(t.text for t in tokens) == r.text
    assert r.ids == tiny_L.generate(QUESTION, image=scene, max_tokens=6).ids


def test_leaving_the_loop_stops_the_request(long_runner):
    f = long_runner
    stream = f.model.generate(ids=f.ids, image=f.image, max_tokens=3000, stream=True)
    for i, _ in enumerate(stream):
        if i == 1:
            break
    r = stream.result
    assert r.finish_reason == "cancelled" and 2 <= len(r.ids) < 3000


def test_close_stops_the_request(long_runner):
    f = long_runner
    with f.model.generate(ids=f.ids, image=f.image, max_tokens=3000, stream=True) as stream:
        next(iter(stream))
    assert stream.result.finish_reason == "cancelled" and len(stream.result.ids) < 3000


def test_an_error_in_a_streamed_request_is_raised_in_the_loop(tiny_L):
    stream = tiny_L.generate("hi", budget=2.0, stream=True)
    with pytest.raises(adallava.Error, match="budget"):
        list(stream)


def test_another_python_thread_runs_while_the_engine_computes(long_runner):
    # One call long enough to see (about half a second) on a second thread, while this thread
    # keeps stamping the clock: had the call held the GIL, the stamps would have a gap as long
    # as the call.
    f = long_runner
    before = sys.getswitchinterval()
    sys.setswitchinterval(0.001)
    try:
        done = threading.Event()
        took = []

        def work():
            t0 = time.perf_counter()
            f.model.generate(ids=f.ids, image=f.image, max_tokens=2000)
            took.append(time.perf_counter() - t0)
            done.set()

        worker = threading.Thread(target=work)
        stamps = [time.perf_counter()]
        worker.start()
        while not done.is_set():
            stamps.append(time.perf_counter())
        worker.join()
    finally:
        sys.setswitchinterval(before)
    longest_gap = max(b - a for a, b in zip(stamps, stamps[1:]))
    assert took[0] > 0.1, "the call was too short to tell"
    assert longest_gap < took[0] / 5, f"gap {longest_gap:.3f} s during a {took[0]:.3f} s call"
