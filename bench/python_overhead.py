#!/usr/bin/env python3
"""What a Python generate call costs beyond the engine's own time: each call's wall time
against the total_ms the engine reports for it (the time `adallava run --json` reports), on the
shipped tiny model. Prints one JSON object.

    PYTHONPATH=build/python python3 bench/python_overhead.py [--rounds 200] [--threads 1]"""
import argparse
import json
import pathlib
import statistics
import time

import adallava

ROOT = pathlib.Path(__file__).resolve().parents[1]


def measure(model, rounds, **request):
    ratios, walls, engines = [], [], []
    for i in range(rounds + 5):
        t0 = time.perf_counter()
        r = model.generate("What shape is the object?", max_tokens=16, **request)
        wall = (time.perf_counter() - t0) * 1e3
        engine = r.timings["total"]  # read after the clock stopped: the report is parsed lazily
        if i >= 5:  # warm-up
            walls.append(wall)
            engines.append(engine)
            ratios.append(wall / engine - 1)
    return {"median_call_ms": statistics.median(walls), "median_engine_ms": statistics.median(engines),
            "median_overhead_fraction": statistics.median(ratios),
            "median_overhead_ms": statistics.median(w - e for w, e in zip(walls, engines))}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=ROOT / "models" / "adallava-tiny-L", type=pathlib.Path)
    p.add_argument("--rounds", type=int, default=200)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    model = adallava.Model(a.model, threads=a.threads)
    path = ROOT / "models" / "examples" / "scene-1.png"
    image = adallava.load_image(path)
    probe = model.generate("hi", max_tokens=1)
    out = {"cpu": probe.report["kernels"]["cpu"], "model": a.model.name, "threads": a.threads, "rounds": a.rounds,
           "decoded_image": measure(model, a.rounds, image=image, budget=0.75),
           "image_path": measure(model, a.rounds, image=path, budget=0.75)}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
