"""Set-up cost of a noisy evaluation: building ``NoisyAttention`` for the digits model.

Every noise-sweep / noise-compare point and every noisy quantize setting builds the noisy
program once per attention block before evaluating an image. This times that build, split into
its parts, for the digits model (the ``noisy_throughput`` setup) compiled with ``--opt 2``:

- ``operations``: ``noisy_operations`` (the compiled schedule with the noise model inserted);
- ``program``: ``build_program`` (the fused two-qubit blocks and their arrays);
- ``engine``: ``BatchedTrajectories`` (phase fusion and engine layout);
- ``total``: the whole ``NoisyAttention`` constructor (the above plus the noiseless reference).

The compile is not timed. One warm-up build per target keeps first-call costs (imports, numba
caches) out; then the median of ``--repeats`` builds, with the load average after each target.

    python benchmarks/noisy_build.py [--targets ibm-torino,sycamore23,ibm-sherbrooke] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import torch

from hqvit.compiler.pipeline import compile_hqvit
from hqvit.runtime import noisy_attention, noisy_program
from hqvit.runtime.batched_trajectories import BatchedTrajectories
from hqvit.runtime.model import ModelConfig
from hqvit.runtime.noisy_attention import NoisyAttention
from hqvit.targets import resolve_target


class _Timed:
    """Wraps a function and adds its wall time to ``seconds`` (the constructor calls it once)."""

    def __init__(self, fn):
        self.fn, self.seconds = fn, 0.0

    def __call__(self, *args, **kwargs):
        t0 = time.perf_counter()
        try:
            return self.fn(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - t0


def build_once(cfg, compiled, scale: float) -> dict[str, float]:
    """One ``NoisyAttention`` build, timed as a whole and by part (the parts are wrapped where
    ``noisy_attention`` looks them up, so the constructor runs unchanged)."""
    parts = {
        "operations": _Timed(noisy_program.noisy_operations),
        "program": _Timed(noisy_program.build_program),
        "engine": _Timed(BatchedTrajectories),
    }
    saved = {
        "operations": noisy_attention.noisy_operations,
        "program": noisy_attention.build_program,
        "engine": noisy_attention.BatchedTrajectories,
    }
    noisy_attention.noisy_operations = parts["operations"]
    noisy_attention.build_program = parts["program"]
    noisy_attention.BatchedTrajectories = parts["engine"]
    try:
        t0 = time.perf_counter()
        NoisyAttention(cfg, compiled, scale, 4, None, 0)
        total = time.perf_counter() - t0
    finally:
        noisy_attention.noisy_operations = saved["operations"]
        noisy_attention.build_program = saved["program"]
        noisy_attention.BatchedTrajectories = saved["engine"]
    return {"total": total, **{k: t.seconds for k, t in parts.items()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--targets", default="ibm-torino,sycamore23,ibm-sherbrooke")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", help="write the rows as JSON here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from hqvit.compiler.hqvit import HQViTConfig

    cfg = ModelConfig(HQViTConfig((8, 8), (4, 4), 2, 1, "bell"), classes=10).circuit
    rows = []
    for name in args.targets.split(","):
        compiled = compile_hqvit(cfg, resolve_target(name), opt=2, seed=0)
        build_once(cfg, compiled, args.scale)  # warm-up
        runs = [build_once(cfg, compiled, args.scale) for _ in range(args.repeats)]
        row = {"target": name, "repeats": args.repeats}
        for key in ("total", "operations", "program", "engine"):
            row[f"{key}_s"] = round(statistics.median(r[key] for r in runs), 4)
        row["total_runs_s"] = [round(r["total"], 4) for r in runs]
        row["load_average"] = [round(x, 2) for x in os.getloadavg()]
        rows.append(row)
        print(json.dumps(row), flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
