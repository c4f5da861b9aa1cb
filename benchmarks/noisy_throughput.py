"""Noisy-simulation throughput of this project: what issue 13's noisy acceptance is measured by.

- ``eval``: seconds per image per trajectory of a noise-study point (``evaluate_point``: the
  digits model's attention replaced by the noisy compiled circuit, calibrated noise, 32
  trajectories, ``--opt 2``), on ibm-torino and sycamore23 (and whatever ``--targets`` names):
  the point's own ``seconds`` (evaluation, as ``noise-sweep`` reports it per image; building the
  noisy circuit once per point is listed separately, with setup);
- ``train``: samples/s of ``hqvit train --noise`` (one epoch on a stratified ``--limit``, the
  training loop only, as ``train_samples_per_s`` reports it) at a given trajectory count.

Only public entry points are used (``evaluate_point``, ``train``), so the same script measured
the code before and after the batched trajectory engine. Weights do not change the cost, so the
evaluation uses a freshly initialized digits model (no training run needed). Median of
``--repeats`` runs.

    python benchmarks/noisy_throughput.py [--images 16] [--repeats 3] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time

import torch

from hqvit.compiler.hqvit import HQViTConfig
from hqvit.compiler.pipeline import compile_hqvit
from hqvit.runtime.data import load_dataset, split
from hqvit.runtime.model import ModelConfig, VisionTransformer
from hqvit.runtime.train import TrainConfig, train
from hqvit.studies.noise_study import StudySetup, evaluate_point
from hqvit.targets import resolve_target


def digits_setup(images: int) -> StudySetup:
    torch.manual_seed(0)
    mcfg = ModelConfig(HQViTConfig((8, 8), (4, 4), 2, 1, "bell"), classes=10)
    model = VisionTransformer(mcfg, backend="qsim", seed=0)
    model.eval()
    ds = load_dataset("digits", (8, 8))
    _, te = split(ds, 0, None)
    te = te[:images]
    return StudySetup(model, mcfg, ds.images[te], ds.labels[te], "(fresh digits model)")


def eval_rows(targets: list[str], images: int, trajectories: int, repeats: int, warmup: bool = True) -> list[dict]:
    setup = digits_setup(images)
    rows = []
    for name in targets:
        compiled = compile_hqvit(setup.mcfg.circuit, resolve_target(name), opt=2, seed=0)
        if warmup:  # compiled-kernel caches and first-call costs stay out of the timed points
            small = StudySetup(setup.model, setup.mcfg, setup.images[:2], setup.labels[:2], setup.checkpoint)
            evaluate_point(small, compiled, 1.0, trajectories, None, 99)
        times, evaluation = [], []
        for r in range(repeats):
            t0 = time.perf_counter()
            point = evaluate_point(setup, compiled, 1.0, trajectories, None, r)
            times.append(time.perf_counter() - t0)
            evaluation.append(point["seconds"])
        sec = statistics.median(evaluation)
        rows.append(
            {
                "target": name,
                "images": images,
                "trajectories": trajectories,
                "seconds_per_point_with_setup": [round(t, 3) for t in times],
                "seconds_per_point": [round(t, 3) for t in evaluation],
                "seconds_per_image": sec / images,
                "seconds_per_image_per_trajectory": sec / images / trajectories,
                "load_average": [round(x, 2) for x in os.getloadavg()],
                "attention_abs_error": point["attention_abs_error"],
                "distribution_fidelity": point["distribution_fidelity"],
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    return rows


def train_rows(targets: list[str], trajectories: list[int], limit: int, repeats: int) -> list[dict]:
    rows = []
    for name in targets:
        for r_traj in trajectories:
            rates = []
            for r in range(repeats):
                with tempfile.TemporaryDirectory() as out:
                    cfg = TrainConfig(
                        limit=limit, epochs=1, batch=8, out=out, target=name, noise=True, trajectories=r_traj, seed=r
                    )
                    rates.append(train(cfg, log=lambda _: None)["train_samples_per_s"])
            rows.append(
                {
                    "target": name,
                    "trajectories": r_traj,
                    "limit": limit,
                    "samples_per_s_runs": [round(x, 3) for x in rates],
                    "samples_per_s": statistics.median(rates),
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=("eval", "train", "both"), default="both")
    ap.add_argument("--targets", default="ibm-torino,sycamore23")
    ap.add_argument("--train-targets", default="ionq-aria,ibm-torino")
    ap.add_argument("--train-trajectories", default="2,8")
    ap.add_argument("--images", type=int, default=16)
    ap.add_argument("--trajectories", type=int, default=32)
    ap.add_argument("--limit", type=int, default=20, help="train: images (80 %% of them train)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-warmup", action="store_true", help="time the first evaluation of each target too")
    ap.add_argument("--out", help="write the rows as JSON here")
    ap.add_argument(
        "--target-options",
        default="",
        help="appended to every target name, e.g. zz=0,t2star_ratio=1 for the Markovian noise model only",
    )
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    # the options are appended after splitting the lists: they contain commas themselves
    suffix = lambda n: (
        (f"{n},{args.target_options}" if "@" in n else f"{n}@{args.target_options}") if args.target_options else n
    )  # noqa: E501, E731
    targets = [suffix(n) for n in args.targets.split(",")]
    train_targets = [suffix(n) for n in args.train_targets.split(",")]
    result = {"machine": platform.machine(), "python": platform.python_version(), "torch_threads": args.threads}
    if args.mode in ("eval", "both"):
        result["eval"] = eval_rows(targets, args.images, args.trajectories, args.repeats, not args.no_warmup)
    if args.mode in ("train", "both"):
        trajs = [int(x) for x in args.train_trajectories.split(",")]
        result["train"] = train_rows(train_targets, trajs, args.limit, args.repeats)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
