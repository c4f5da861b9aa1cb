"""Where a second thread starts to pay on the noiseless training path (``hqvit train`` default).

One sample = S and the gradient of sum(G * S) for one image through ``qsim_attention`` (fused
suffix blocks with adjoint gradients, closed-form encoded state), batches of 32 images, torch
and qsim on 1 and 2 threads, for 12, 14 and 16 qubits. Windows of 1 and 2 threads are
interleaved (the machine is shared: the load average is recorded with each window) and the
median of ``--windows`` is kept. The rule in ``hqvit.runtime.threads`` is read off this table.

    python benchmarks/thread_scaling.py [--windows 5] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np
import torch

from hqvit.compiler.hqvit import HQViTConfig
from hqvit.runtime.data import load_dataset
from hqvit.runtime.encoding import tokens_from_images
from hqvit.runtime.qsim_backend import QsimOptions
from hqvit.runtime.quantum_attention import QsimAttention, qsim_attention

CONFIGS = {  # qubits: (image, patch)
    12: ((8, 8), (4, 4)),
    14: ((16, 8), (4, 4)),
    16: ((16, 16), (4, 4)),
}


def samples_per_s(backend: QsimAttention, tokens: torch.Tensor, params: np.ndarray, seconds: float) -> float:
    grad = torch.from_numpy(
        np.random.default_rng(0).normal(size=(tokens.shape[0], 1, backend.cfg.tokens, backend.cfg.tokens))
    )
    done, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        p = torch.tensor(params, requires_grad=True)
        s, _ = qsim_attention(tokens, p, backend)
        (s * grad).sum().backward()
        done += tokens.shape[0]
    return done / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--windows", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--out")
    args = ap.parse_args()
    rows = []
    for qubits, (image, patch) in CONFIGS.items():
        cfg = HQViTConfig(image, patch)
        ds = load_dataset("mnist5k" if image[0] > 8 else "digits", image)
        tokens = tokens_from_images(ds.images[:32].double(), cfg)
        params = np.random.default_rng(0).uniform(-np.pi, np.pi, (1, len(cfg.trainable_symbols())))
        backends = {t: QsimAttention(cfg, options=QsimOptions(threads=t)) for t in (1, 2)}
        rates: dict[int, list[float]] = {1: [], 2: []}
        loads = []
        for _ in range(args.windows):
            for t in (1, 2):
                torch.set_num_threads(t)
                rates[t].append(samples_per_s(backends[t], tokens, params, args.seconds))
                loads.append(os.getloadavg()[0])
        row = {
            "qubits": qubits,
            "image": "x".join(map(str, image)),
            "samples_per_s_1_thread": statistics.median(rates[1]),
            "samples_per_s_2_threads": statistics.median(rates[2]),
            "windows_1": rates[1],
            "windows_2": rates[2],
            "load_average": [round(x, 2) for x in loads],
        }
        row["speedup_2_threads"] = row["samples_per_s_2_threads"] / row["samples_per_s_1_thread"]
        rows.append(row)
        print(json.dumps(row), flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"cores": len(os.sched_getaffinity(0)), "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
