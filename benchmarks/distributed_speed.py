"""Two ranks under ``torchrun`` against one process: training samples/s and a noise-sweep point.

Training: ``hqvit train`` on the qsim backend, MNIST 16x16 with 4x4 patches (``--limit`` images,
one epoch, ``--batch``, default 32), once as the single-process default (no launcher; threads by
``runtime.threads``), once as one process with ``--threads 1`` and once as ``torchrun
--nproc-per-node 2`` (one thread per rank); the figure is the command's own
``train_samples_per_s`` (training steps only, global samples). Noise: ``hqvit noise-sweep`` of a
checkpoint of that model (trained here first) at one scale on one target, one process against two
ranks; the figure is the point's ``seconds`` (its images' noisy evaluation, gathered on rank 0).

The machine is shared: the variants are interleaved, each ``--repeats`` times, with the 1-minute
load average recorded before every run, and the medians are compared. Ratios, not absolute
speeds, are the result.

    python benchmarks/distributed_speed.py [--limit 1000] [--noise-limit 64] [--repeats 3]
        [--part train|noise|all] [--out benchmarks/results/DATE-vm-distributed]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

BIN = Path(sys.executable).parent
MODEL = ["--dataset", "mnist5k", "--image", "16x16", "--patch", "4x4"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def hqvit(ranks: int, args: list[str]) -> dict:
    """``hqvit ARGS --json`` as one process (``ranks`` 0: no launcher) or under torchrun; its JSON."""
    if ranks:
        cmd = [str(BIN / "torchrun"), "--nproc-per-node", str(ranks), "--master-port", str(free_port())]
        cmd += ["-m", "hqvit.cli", *args, "--json"]
    else:
        cmd = [str(BIN / "hqvit"), *args, "--json"]
    env = {**os.environ, "TQDM_DISABLE": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3600)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def load() -> float:
    return round(os.getloadavg()[0], 2)


def measure(variants: dict[str, tuple[int, list[str]]], figure, repeats: int) -> dict:
    runs: dict[str, list[dict]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, (ranks, args) in variants.items():
            before = load()
            value = figure(hqvit(ranks, args))
            runs[name].append({"value": value, "load_before": before})
            print(json.dumps({"variant": name, "value": value, "load_before": before}), flush=True)
    return {name: {"median": statistics.median(r["value"] for r in rs), "runs": rs} for name, rs in runs.items()}


def train_part(limit: int, batch: int, repeats: int, out: Path) -> dict:
    base = ["train", *MODEL, "--backend", "qsim", "--limit", str(limit), "--epochs", "1", "--batch", str(batch)]
    variants = {
        "1 process (default threads)": (0, [*base, "--out", str(out / "t1")]),
        "1 process, 1 thread": (0, [*base, "--threads", "1", "--out", str(out / "t1t")]),
        "torchrun 2 ranks": (2, [*base, "--out", str(out / "t2")]),
    }
    result = measure(variants, lambda r: r["train_samples_per_s"], repeats)
    one = result["1 process (default threads)"]["median"]
    result["speedup_2_ranks"] = result["torchrun 2 ranks"]["median"] / one
    result["speedup_2_ranks_vs_1_thread"] = (
        result["torchrun 2 ranks"]["median"] / result["1 process, 1 thread"]["median"]
    )
    return result


def noise_part(limit: int, trajectories: int, target: str, repeats: int, out: Path) -> dict:
    ckpt = out / "model"
    hqvit(0, ["train", *MODEL, "--limit", "400", "--epochs", "1", "--threads", "1", "--out", str(ckpt)])
    base = ["noise-sweep", "--checkpoint", str(ckpt / "checkpoint.pt"), "--target", target, "--scales", "1"]
    base += ["--limit", str(limit), "--trajectories", str(trajectories)]
    variants = {
        "1 process": (0, [*base, "--out", str(out / "n1")]),
        "torchrun 2 ranks": (2, [*base, "--out", str(out / "n2")]),
    }
    result = measure(variants, lambda r: r["points"][0]["seconds"], repeats)
    result["speedup_2_ranks"] = result["1 process"]["median"] / result["torchrun 2 ranks"]["median"]
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, default=1000, help="MNIST images for the training runs")
    ap.add_argument("--batch", type=int, default=32, help="global batch of the training runs")
    ap.add_argument("--noise-limit", type=int, default=64, help="test images in the noise-sweep point")
    ap.add_argument("--trajectories", type=int, default=16)
    ap.add_argument("--target", default="ibm-torino")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--part", choices=("train", "noise", "all"), default="all")
    ap.add_argument("--out", help="write OUT.json and OUT.md")
    args = ap.parse_args()
    report: dict = {"cores": len(os.sched_getaffinity(0)), "load_at_start": load(), "model": " ".join(MODEL)}
    with tempfile.TemporaryDirectory(prefix="hqvit-dist-") as tmp:
        if args.part in ("train", "all"):
            report["train"] = {
                "limit": args.limit,
                "batch": args.batch,
                **train_part(args.limit, args.batch, args.repeats, Path(tmp)),
            }
        if args.part in ("noise", "all"):
            noise = noise_part(args.noise_limit, args.trajectories, args.target, args.repeats, Path(tmp))
            report["noise_sweep_point"] = {
                "limit": args.noise_limit,
                "trajectories": args.trajectories,
                "target": args.target,
                **noise,
            }
    report["load_at_end"] = load()
    print(json.dumps(report, indent=1))
    if args.out:
        Path(f"{args.out}.json").write_text(json.dumps(report, indent=1))
        Path(f"{args.out}.md").write_text(markdown(report))


def markdown(report: dict) -> str:
    lines = [
        f"# torchrun: 2 ranks against 1 process ({report['cores']} cores, {report['model']})",
        "",
        f"1-minute load average: {report['load_at_start']} at the start, {report['load_at_end']} at the end.",
        "",
        "| measurement | variant | median | runs (load before each) |",
        "|---|---|---|---|",
    ]
    for part, unit in (("train", "samples/s"), ("noise_sweep_point", "s per point")):
        if part not in report:
            continue
        for name, v in report[part].items():
            if isinstance(v, dict):
                runs = ", ".join(f"{r['value']:.3g} ({r['load_before']})" for r in v["runs"])
                lines.append(f"| {part} | {name} | {v['median']:.3g} {unit} | {runs} |")
        first = "1 process" if part == "noise_sweep_point" else "1 process (default threads)"
        lines.append(f"| {part} | 2 ranks over {first} | {report[part]['speedup_2_ranks']:.2f}x | |")
        if "speedup_2_ranks_vs_1_thread" in report[part]:
            lines.append(f"| {part} | 2 ranks over 1 thread | {report[part]['speedup_2_ranks_vs_1_thread']:.2f}x | |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
