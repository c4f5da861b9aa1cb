"""Peak memory and speed of noiseless qsim training at 20 qubits (MNIST 32x32, patch 4x4).

Two measurements, one 20-qubit process at a time (each holds gigabytes):

``train`` runs the ``hqvit train`` command a user runs, in a child process, for each ``--batch``,
``--repeats`` times with the batches interleaved (the machine is shared: the 1-minute load
average is recorded before each run), and reports the training samples/s from its JSON summary
and the child's peak RSS (``ru_maxrss``: evaluation at batch 256 included). ``--python`` runs
other code (a directory holding ``hqvit/``, put first on PYTHONPATH; ``-`` for this checkout), so an
older commit can be measured in the same interleaving::

    python benchmarks/qsim_memory.py train --batch 32 64 --repeats 2 [--python OLD_DIR -] [--out FILE.json]

``layer`` measures one attention layer (``qsim_attention``, 2 heads) in this process: the peak
RSS above the starting RSS of an evaluation forward, a training forward and its backward, next to
the bytes the chunk planner allowed (``hqvit.runtime.state_budget``) and the time of each::

    python benchmarks/qsim_memory.py layer --batch 32 64 256 [--budget-gib 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time

TRAIN = (
    "train --dataset mnist5k --image 32x32 --patch 4x4 --blocks 2 --heads 2 --mlp-ratio 2 --layers 1 "
    "--temperature 0.2 --schedule cosine --epochs 1 --limit 400 --backend qsim --json"
).split()


def peak_rss_of(cmd: list[str], env: dict) -> tuple[int, str, str, float]:
    """(exit status, stdout, stderr, peak RSS GiB) of a child, its RSS sampled every 10 ms."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = [0]

    def sample() -> None:
        while proc.poll() is None:
            try:
                with open(f"/proc/{proc.pid}/status") as f:
                    for line in f:
                        if line.startswith("VmHWM"):
                            peak[0] = max(peak[0], int(line.split()[1]))
            except (FileNotFoundError, ProcessLookupError):
                break
            time.sleep(0.01)

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    out, err = proc.communicate()
    watcher.join()
    return proc.returncode, out, err, peak[0] / 2**20


def train_rows(args: argparse.Namespace) -> list[dict]:
    rows = []
    for repeat in range(args.repeats):
        for batch in args.batch:
            for python_dir in [None if d == "-" else d for d in args.python or ["-"]]:
                env = dict(os.environ)
                if python_dir:
                    env["PYTHONPATH"] = python_dir + os.pathsep + env.get("PYTHONPATH", "")
                code = "import sys; from hqvit.cli.main import main; sys.exit(main())"
                out_dir = os.path.join(args.scratch, f"run-{len(rows)}")
                cmd = [sys.executable, "-c", code, *TRAIN, "--batch", str(batch), "--out", out_dir]
                load = os.getloadavg()[0]
                t0 = time.perf_counter()
                status, out, err, peak = peak_rss_of(cmd, env)
                row = {
                    "repeat": repeat,
                    "batch": batch,
                    "code": python_dir or "this checkout",
                    "load_1min_before": round(load, 2),
                    "load_1min_after": round(os.getloadavg()[0], 2),
                    "wall_s": round(time.perf_counter() - t0, 1),
                    "peak_rss_gib": round(peak, 2),
                    "exit": status,
                }
                if status == 0:
                    summary = json.loads(out)
                    for key in ("train_samples_per_s", "train_accuracy", "test_accuracy", "threads"):
                        row[key] = summary[key]
                else:
                    row["error"] = err.strip().splitlines()[-1] if err.strip() else f"exit {status}"
                print(json.dumps(row), flush=True)
                rows.append(row)
    return rows


def layer_rows(args: argparse.Namespace) -> list[dict]:
    import torch

    from hqvit.compiler.hqvit import HQViTConfig
    from hqvit.runtime.data import load_dataset
    from hqvit.runtime.encoding import tokens_from_images
    from hqvit.runtime.qsim_backend import QsimOptions
    from hqvit.runtime.quantum_attention import QsimAttention, qsim_attention
    from hqvit.runtime.state_budget import DEFAULT_STATE_BUDGET, budget_from_gib
    from hqvit.runtime.threads import threads_for

    cfg = HQViTConfig((32, 32), (4, 4), heads=2)
    threads = threads_for(20)
    torch.set_num_threads(threads)
    budget = budget_from_gib(args.budget_gib) if args.budget_gib else DEFAULT_STATE_BUDGET
    backend = QsimAttention(cfg, options=QsimOptions(threads=threads), state_budget=budget)
    ds = load_dataset("mnist5k", (32, 32))
    params = torch.from_numpy(
        __import__("numpy").random.default_rng(0).uniform(-3.14, 3.14, (2, len(cfg.trainable_symbols())))
    )
    sampler = _PeakSampler()
    rows = []
    for batch in args.batch:
        tokens = tokens_from_images(ds.images[:batch].double(), cfg)
        weight = torch.randn(batch, 2, cfg.tokens, cfg.tokens, generator=torch.Generator().manual_seed(0))
        row = {"batch": batch, "budget_gib": budget / 2**30, "threads": threads, "load_1min": os.getloadavg()[0]}
        plan = backend.plan(batch, 2, True)
        row["plan"] = {"keep": plan.keep, "forward_chunk": plan.forward, "backward_chunk": plan.backward}
        row["planned_gib"] = {
            "eval": min(batch, backend.plan(batch, 2, False).forward) * backend.adjoint.state_bytes(2, False) / 2**30,
            "train": (batch if plan.keep else plan.backward) * backend.adjoint.state_bytes(2, True) / 2**30,
        }
        with torch.no_grad(), sampler.phase(row, "eval"):
            qsim_attention(tokens, params, backend)
        p = params.clone().requires_grad_()
        with sampler.phase(row, "forward"):
            s, _ = qsim_attention(tokens, p, backend)
        with sampler.phase(row, "backward", since=row["forward_start_rss_gib"]):
            (s * weight).sum().backward()
        del s, p
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


class _PeakSampler:
    """RSS sampled every 2 ms on a thread; ``phase`` records a block's time and peak RSS above the
    RSS at its start (or ``since``)."""

    def __init__(self) -> None:
        self.peak = 0.0
        threading.Thread(target=self._run, daemon=True).start()

    @staticmethod
    def rss() -> float:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 2**20

    def _run(self) -> None:
        while True:
            self.peak = max(self.peak, self.rss())
            time.sleep(0.002)

    def phase(self, row: dict, name: str, since: float | None = None):
        sampler = self

        class _Phase:
            def __enter__(self):
                self.start = sampler.rss()
                row[f"{name}_start_rss_gib"] = round(self.start, 3)
                sampler.peak = self.start
                self.t0 = time.perf_counter()

            def __exit__(self, *exc):
                row[f"{name}_s"] = round(time.perf_counter() - self.t0, 2)
                base = self.start if since is None else since
                row[f"{name}_peak_above_gib"] = round(sampler.peak - base, 3)
                return False

        return _Phase()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=("train", "layer"))
    ap.add_argument("--batch", type=int, nargs="+", default=[32, 64])
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument(
        "--python", nargs="+", help="train: code to compare, each a directory holding hqvit/, or - for this checkout"
    )
    ap.add_argument("--scratch", default="runs/qsim-memory", help="train: the runs' output directories")
    ap.add_argument("--budget-gib", type=float, help="layer: the state budget (default: the library's)")
    ap.add_argument("--out", help="write the rows as JSON here")
    args = ap.parse_args()
    rows = train_rows(args) if args.mode == "train" else layer_rows(args)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
