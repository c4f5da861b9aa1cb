"""Cost per image of one training step against the batch size (qsim backend, MNIST 16x16, 16 qubits).

One step is what ``hqvit train`` does per batch: the model's forward on the batch's images, the
cross-entropy and its backward (fused suffix, adjoint gradients, closed-form encoded state), on
one thread (``torch.set_num_threads(1)``, qsim's threads 1), with the default model of ``hqvit
train --dataset mnist5k --image 16x16 --patch 4x4``. For each batch size the step is repeated and
the medians per image are kept of: wall time, user and system CPU time and minor page faults (a
system time that grows with the batch while the user time stays flat is the kernel handing out
fresh pages, not the arithmetic). Variants set the sub-batch of the adjoint path
(``QsimAttention.sub_batch_bytes``): ``default`` leaves it alone, a number of MiB sets it, 0
turns sub-batching off. Every (batch, variant) runs in a fresh process, as a training run does
(the allocator's state depends on what ran before), variants interleaved per repeat (the machine
may be shared), and the 1-minute load average is recorded with every measurement. ``--profile
B`` prints the cProfile of a few steps at batch B for each variant.

    python benchmarks/batch_scaling.py [--batches 1,4,8,16,32,64,128] [--variants default,0]
        [--repeats 5] [--profile 128] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import resource
import statistics
import subprocess
import sys
import time

import torch
from torch import nn

from hqvit.runtime.data import load_dataset
from hqvit.runtime.model import VisionTransformer, quantum_backends
from hqvit.runtime.train import TrainConfig

OFF = 1 << 62  # a sub-batch no batch reaches


def build(seed: int = 0) -> tuple[VisionTransformer, torch.Tensor, torch.Tensor]:
    """The default ``hqvit train`` model for MNIST-5k 16x16 on the qsim backend, and images."""
    cfg = TrainConfig(dataset="mnist5k", image=(16, 16), patch=(4, 4), backend="qsim")
    ds = load_dataset(cfg.dataset, cfg.image)
    torch.manual_seed(seed)
    model = VisionTransformer(cfg.model_config(ds.classes), backend="qsim", threads=1)
    return model, ds.images, ds.labels


def set_variant(model: VisionTransformer, variant: str) -> None:
    """Set the sub-batch of a freshly built model's attention layers (``default``: as built)."""
    if variant == "default":
        return
    mib = float(variant)
    for backend in quantum_backends(model):
        backend.sub_batch_bytes = OFF if mib == 0 else max(1, int(mib * (1 << 20)))


def step(model: VisionTransformer, x: torch.Tensor, y: torch.Tensor) -> None:
    model.zero_grad()
    nn.functional.cross_entropy(model(x), y).backward()


def measure(model: VisionTransformer, x: torch.Tensor, y: torch.Tensor, steps: int) -> dict:
    """Medians over ``steps`` steps, per image: ms of wall, user and system time, minor faults."""
    b = x.shape[0]
    step(model, x, y)  # warm: first-call allocations and caches
    wall, user, system, faults = [], [], [], []
    for _ in range(steps):
        r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        step(model, x, y)
        t1, r1 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
        wall.append((t1 - t0) / b * 1e3)
        user.append((r1.ru_utime - r0.ru_utime) / b * 1e3)
        system.append((r1.ru_stime - r0.ru_stime) / b * 1e3)
        faults.append((r1.ru_minflt - r0.ru_minflt) / b)
    return {
        "wall_ms_per_image": statistics.median(wall),
        "user_ms_per_image": statistics.median(user),
        "sys_ms_per_image": statistics.median(system),
        "cpu_ms_per_image": statistics.median(u + s for u, s in zip(user, system, strict=True)),
        "minor_faults_per_image": statistics.median(faults),
        "load_average": round(os.getloadavg()[0], 2),
    }


def worker(batch: int, variant: str, images: int, profile: bool) -> dict:
    """One (batch, variant) measurement in this process: the row, or a cProfile printed."""
    torch.set_num_threads(1)
    model, x, y = build()
    set_variant(model, variant)
    x, y = x[:batch], y[:batch]
    if not profile:
        return {"batch": batch, "variant": variant, **measure(model, x, y, max(3, images // batch))}
    step(model, x, y)
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(3):
        step(model, x, y)
    prof.disable()
    print(f"--- cProfile, batch {batch}, variant {variant}, 3 steps", flush=True)
    pstats.Stats(prof).sort_stats("tottime").print_stats(12)
    return {}


def spawn(batch: int, variant: str, images: int, profile: bool = False) -> dict:
    cmd = [sys.executable, __file__, "--worker", str(batch), variant, "--images", str(images)]
    proc = subprocess.run(cmd + (["--profile", "1"] if profile else []), capture_output=True, text=True, check=True)
    if profile:
        print(proc.stdout, flush=True)
        return {}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batches", default="1,4,8,16,32,64,128")
    ap.add_argument("--variants", default="default,0", help="comma-separated: default, or sub-batch MiB (0: off)")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved rounds; each reports a median of steps")
    ap.add_argument("--images", type=int, default=256, help="images per measurement at least (more steps when small)")
    ap.add_argument("--profile", type=int, help="print a cProfile of steps at this batch size per variant")
    ap.add_argument("--out", help="write the rows to this JSON file")
    ap.add_argument("--worker", nargs=2, metavar=("BATCH", "VARIANT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        row = worker(int(args.worker[0]), args.worker[1], args.images, bool(args.profile))
        if row:
            print(json.dumps(row), flush=True)
        return
    batches = [int(b) for b in args.batches.split(",")]
    variants = args.variants.split(",")
    rows = []
    for b in batches:
        rounds: dict[str, list[dict]] = {v: [] for v in variants}
        for _ in range(args.repeats):
            for v in variants:
                rounds[v].append(spawn(b, v, args.images))
        for v in variants:
            keys = [k for k in rounds[v][0] if k not in ("batch", "variant", "load_average")]
            row = {"batch": b, "variant": v, **{k: statistics.median(r[k] for r in rounds[v]) for k in keys}}
            row["load_average"] = [r["load_average"] for r in rounds[v]]
            rows.append(row)
            print(json.dumps(row), flush=True)
    if args.profile:
        for v in variants:
            spawn(args.profile, v, args.images, profile=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"cores": len(os.sched_getaffinity(0)), "threads": 1, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
