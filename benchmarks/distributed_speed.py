"""Two ranks under ``torchrun`` against one process: training samples/s and a noise-sweep point.

Training: ``hqvit train`` on the qsim backend, MNIST 16x16 with 4x4 patches (``--limit`` images,
one epoch, each ``--batch``, default 32 and 128), as one process with its default threads (the
thread rule of ``runtime.threads``: one thread at 16 qubits), with ``--threads 1`` and with
``--threads 2``, and as ``torchrun --nproc-per-node 2`` (one thread per rank); the figure is the
command's own ``train_samples_per_s`` (training steps only, global samples). Noise: ``hqvit
noise-sweep`` of a checkpoint of that model (trained here first) at one scale on one target, one
process with its default threads (the same rule), one with ``OMP_NUM_THREADS=2`` (torch and
numpy's BLAS on both cores) and two ranks; the figure is the point's ``seconds`` (its images'
noisy evaluation, gathered on rank 0). Each ratio is given over the default one-process run and
over the best one-process run of the same part.

The machine is shared: every variant of every part is run once per repeat, interleaved, with the
1-minute load average recorded before every run, and the medians are compared. Ratios, not
absolute speeds, are the result. ``--out PREFIX`` appends the run (with its command line and
date) to PREFIX.json's list of runs and a section to PREFIX.md.

    python benchmarks/distributed_speed.py [--limit 1000] [--batch 32,128] [--noise-limit 32]
        [--trajectories 8] [--repeats 3] [--part train|noise|all]
        [--out benchmarks/results/DATE-vm-distributed]
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
import time
from collections.abc import Callable
from pathlib import Path

BIN = Path(sys.executable).parent
MODEL = ["--dataset", "mnist5k", "--image", "16x16", "--patch", "4x4"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def hqvit(ranks: int, args: list[str], env: dict[str, str] | None = None) -> dict:
    """``hqvit ARGS --json`` as one process (``ranks`` 0: no launcher) or under torchrun; its JSON."""
    if ranks:
        cmd = [str(BIN / "torchrun"), "--nproc-per-node", str(ranks), "--master-port", str(free_port())]
        cmd += ["-m", "hqvit.cli", *args, "--json"]
    else:
        cmd = [str(BIN / "hqvit"), *args, "--json"]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, env={**os.environ, "TQDM_DISABLE": "1", **(env or {})}, timeout=3600
    )
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def load() -> float:
    return round(os.getloadavg()[0], 2)


# a variant: (ranks, hqvit arguments, extra environment, the figure from its JSON, its thread count)
Variant = tuple[int, list[str], dict[str, str], Callable[[dict], float], Callable[[dict], int]]


def measure(variants: dict[str, Variant], repeats: int) -> dict[str, dict]:
    """Each variant ``repeats`` times, all variants in turn per repeat; medians and every run."""
    runs: dict[str, list[dict]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, (ranks, args, env, figure, threads) in variants.items():
            before = load()
            out = hqvit(ranks, args, env)
            run = {"value": figure(out), "load_before": before, "threads": threads(out)}
            runs[name].append(run)
            print(json.dumps({"variant": name, **run}), flush=True)
    return {name: {"median": statistics.median(r["value"] for r in rs), "runs": rs} for name, rs in runs.items()}


def ratios(part: dict, two: str, ones: list[str], faster: Callable[[float, float], float]) -> None:
    """``speedup_2_ranks`` over the first (default) one-process variant, ``speedup_2_ranks_vs_best_1``
    over the best one, and ``best_1_process`` naming it."""
    default = ones[0]
    best = max(ones, key=lambda n: faster(part[n]["median"], 1.0))
    part["speedup_2_ranks"] = faster(part[two]["median"], part[default]["median"])
    part["best_1_process"] = best
    part["speedup_2_ranks_vs_best_1"] = faster(part[two]["median"], part[best]["median"])


def train_variants(limit: int, batch: int, out: Path) -> dict[str, Variant]:
    base = ["train", *MODEL, "--backend", "qsim", "--limit", str(limit), "--epochs", "1", "--batch", str(batch)]
    sps, threads = (lambda r: r["train_samples_per_s"]), (lambda r: r["threads"])
    tag = f"b{batch}"
    variants: dict[str, Variant] = {}
    for name, flags, suffix in (
        ("1 process (default threads)", [], "t"),
        ("1 process, 1 thread", ["--threads", "1"], "t1"),
        ("1 process, 2 threads", ["--threads", "2"], "t2"),
    ):
        variants[f"batch {batch}: {name}"] = (
            0,
            [*base, *flags, "--out", str(out / f"{tag}-{suffix}")],
            {},
            sps,
            threads,
        )
    variants[f"batch {batch}: torchrun 2 ranks"] = (2, [*base, "--out", str(out / f"{tag}-r2")], {}, sps, threads)
    return variants


TWO = {"OMP_NUM_THREADS": "2"}  # noise-sweep has no --threads: torch and numpy's BLAS on both cores


def noise_variants(limit: int, trajectories: int, target: str, out: Path) -> dict[str, Variant]:
    ckpt = out / "model"
    hqvit(0, ["train", *MODEL, "--limit", "400", "--epochs", "1", "--threads", "1", "--out", str(ckpt)])
    base = ["noise-sweep", "--checkpoint", str(ckpt / "checkpoint.pt"), "--target", target, "--scales", "1"]
    base += ["--limit", str(limit), "--trajectories", str(trajectories)]
    secs, threads = (lambda r: r["points"][0]["seconds"]), (lambda r: r.get("threads"))
    return {
        "noise: 1 process (default threads)": (0, [*base, "--out", str(out / "n1")], {}, secs, threads),
        "noise: 1 process, 2 threads": (
            0,
            [*base, "--out", str(out / "n1t2")],
            TWO,
            secs,
            threads,
        ),
        "noise: torchrun 2 ranks": (2, [*base, "--out", str(out / "n2")], {}, secs, threads),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, default=1000, help="MNIST images for the training runs")
    ap.add_argument("--batch", default="32,128", help="global batches of the training runs, comma-separated")
    ap.add_argument("--noise-limit", type=int, default=32, help="test images in the noise-sweep point")
    ap.add_argument("--trajectories", type=int, default=8)
    ap.add_argument("--target", default="ibm-torino")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--part", choices=("train", "noise", "all"), default="all")
    ap.add_argument("--out", help="append the run to OUT.json and OUT.md")
    args = ap.parse_args()
    try:
        batches = [int(b) for b in args.batch.split(",")]
    except ValueError:
        ap.error(f"--batch must be comma-separated integers, got {args.batch!r}")
    report: dict = {
        "command": "python benchmarks/distributed_speed.py " + " ".join(sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cores": len(os.sched_getaffinity(0)),
        "load_at_start": load(),
        "model": " ".join(MODEL),
    }
    with tempfile.TemporaryDirectory(prefix="hqvit-dist-") as tmp:
        variants: dict[str, Variant] = {}
        if args.part in ("train", "all"):
            for batch in batches:
                variants.update(train_variants(args.limit, batch, Path(tmp)))
        if args.part in ("noise", "all"):
            variants.update(noise_variants(args.noise_limit, args.trajectories, args.target, Path(tmp)))
        measured = measure(variants, args.repeats)  # every part's variants interleaved
    if args.part in ("train", "all"):
        for batch in batches:
            part = {"limit": args.limit, "batch": batch}
            part.update({k.split(": ", 1)[1]: v for k, v in measured.items() if k.startswith(f"batch {batch}: ")})
            ratios(part, "torchrun 2 ranks", [n for n in part if n.startswith("1 process")], lambda a, b: a / b)
            report[f"train_batch_{batch}"] = part
    if args.part in ("noise", "all"):
        part = {"limit": args.noise_limit, "trajectories": args.trajectories, "target": args.target}
        part.update({k.split(": ", 1)[1]: v for k, v in measured.items() if k.startswith("noise: ")})
        ratios(part, "torchrun 2 ranks", [n for n in part if n.startswith("1 process")], lambda a, b: b / a)
        report["noise_sweep_point"] = part
    report["load_at_end"] = load()
    print(json.dumps(report, indent=1))
    if args.out:
        append(Path(args.out), report)


def append(prefix: Path, report: dict) -> None:
    """Add the run to PREFIX.json's ``runs`` (created if missing) and a section to PREFIX.md."""
    js = prefix.with_name(prefix.name + ".json")
    runs = json.loads(js.read_text())["runs"] if js.exists() else []
    js.write_text(json.dumps({"runs": [*runs, report]}, indent=1) + "\n")
    md = prefix.with_name(prefix.name + ".md")
    with md.open("a") as f:
        f.write(markdown(report))


def markdown(report: dict) -> str:
    lines = [
        "",
        f"`{report['command']}` ({report['date']})",
        "",
        f"## torchrun: 2 ranks against 1 process ({report['cores']} cores, {report['model']})",
        "",
        f"1-minute load average: {report['load_at_start']} at the start, {report['load_at_end']} at the end.",
        "",
        "| measurement | variant | threads | median | runs (load before each) |",
        "|---|---|---|---|---|",
    ]
    for part, v in report.items():
        if not isinstance(v, dict):
            continue
        unit = "s per point" if part == "noise_sweep_point" else "samples/s"
        for name, r in v.items():
            if isinstance(r, dict):
                runs = ", ".join(f"{x['value']:.3g} ({x['load_before']})" for x in r["runs"])
                threads = "/".join(sorted({str(x["threads"]) for x in r["runs"]}))
                lines.append(f"| {part} | {name} | {threads} | {r['median']:.3g} {unit} | {runs} |")
        lines.append(f"| {part} | 2 ranks over 1 process (default threads) | | {v['speedup_2_ranks']:.2f}x | |")
        best = f"2 ranks over the best 1 process ({v['best_1_process']})"
        lines.append(f"| {part} | {best} | | {v['speedup_2_ranks_vs_best_1']:.2f}x | |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
