#!/usr/bin/env python3
"""AdaLLaVA from Python, notebook style: one question under several latency budgets, then
accuracy against budget on a few hundred fresh test scenes, plotted with matplotlib.

    PYTHONPATH=build/python python3 examples/budget_sweep.py            # from the build tree
    python3 examples/budget_sweep.py --scenes 300 --out budget_sweep.png  # after pip install .

The scenes come from `adallava synth` (the generator the shipped models were trained on, with a
seed never used in training), so this needs the adallava binary too (--adallava)."""
import argparse
import json
import pathlib
import shutil
import subprocess
import tempfile
import time

import matplotlib

matplotlib.use("Agg")  # a file, no display
import matplotlib.pyplot as plt

import adallava

ROOT = pathlib.Path(__file__).resolve().parents[1]
BUDGETS = [1.0, 0.875, 0.75, 0.625, 0.5]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=ROOT / "models" / "adallava-tiny-L", type=pathlib.Path)
    p.add_argument("--adallava", default=shutil.which("adallava") or ROOT / "build" / "adallava",
                   help="the adallava binary, to render the test scenes")
    p.add_argument("--scenes", type=int, default=300)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--out", default="budget_sweep.png", type=pathlib.Path)
    return p.parse_args()


def one_question(model):
    """The same question about the same image, under each budget: what ran and what it said."""
    image = ROOT / "models" / "examples" / "scene-1.png"
    question = "What shape is the object?"
    print(f"{question}  ({image.name})")
    for budget in BUDGETS:
        r = model.generate(question, image=image, budget=budget, max_tokens=16)
        print(f"  budget {budget:5.3f}: {r.text!r:12} layers {r.plan.executed_layers}  "
              f"{r.timings['total']:.1f} ms")


def render_scenes(adallava_bin, n, folder):
    subprocess.run([str(adallava_bin), "synth", "--out", str(folder), "--n", "1", "--val", "0", "--test", str(n),
                    "--min-objects", "1", "--max-objects", "3", "--seed", "2027"], check=True,
                   stdout=subprocess.DEVNULL)
    records = json.loads((folder / "test.json").read_text())
    out = []
    for r in records:
        turns = r["conversations"]
        question = turns[0]["value"].replace("<image>", "").strip()
        out.append((folder / "images" / r["image"], question, turns[1]["value"]))
    return out


def normalise(answer):
    return answer.strip().rstrip(".").strip().lower()


def accuracy_by_budget(model, scenes):
    rows = []
    for budget in BUDGETS:
        correct, fraction, t0 = 0, 0.0, time.perf_counter()
        for image, question, answer in scenes:
            r = model.generate(question, image=image, budget=budget, max_tokens=16)
            correct += normalise(r.text) == normalise(answer)
            fraction += r.plan.executed_fraction
        rows.append((budget, 100.0 * correct / len(scenes), fraction / len(scenes), time.perf_counter() - t0))
        print(f"  budget {budget:5.3f}: accuracy {rows[-1][1]:5.1f}%  executed fraction {rows[-1][2]:.3f}  "
              f"({rows[-1][3]:.1f} s)")
    return rows


def plot(rows, title, path):
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot([r[2] for r in rows], [r[1] for r in rows], "o-")
    for budget, acc, frac, _ in rows:
        ax.annotate(f"{budget:g}", (frac, acc), textcoords="offset points", xytext=(4, -12), fontsize=8)
    ax.set_xlabel("executed fraction of the decoder")
    ax.set_ylabel("exact-match accuracy (%)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main():
    args = parse_args()
    model = adallava.Model(args.model, threads=args.threads)
    one_question(model)
    with tempfile.TemporaryDirectory() as tmp:
        scenes = render_scenes(args.adallava, args.scenes, pathlib.Path(tmp))
        print(f"{len(scenes)} fresh test scenes (seed 2027):")
        rows = accuracy_by_budget(model, scenes)
    plot(rows, f"{args.model.name} on {len(scenes)} scenes", args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
