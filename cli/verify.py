"""``hqvit verify``: attention scores of the circuit on qsim against the closed form, on real images."""

from __future__ import annotations

import argparse
import sys
import time

from hqvit.cli.args import add_circuit_args, circuit_config, integer, positive_finite, seed
from hqvit.cli.output import EXIT_FAILED, EXIT_OK, emit
from hqvit.ir.errors import InputError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("verify", help="compare the compiled circuit on qsim with the closed-form attention")
    add_circuit_args(p)
    p.add_argument("--samples", type=integer, default=8, help="real images to check")
    p.add_argument("--dataset", help="digits | mnist5k | idx:DIR (default: digits up to 8x8 images, else mnist5k)")
    p.add_argument("--seed", type=seed, default=0, help="seed for the images and angles")
    p.add_argument("--tolerance", type=positive_finite, default=1e-5, help="largest |S - S_exact|")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from hqvit.ir.resources import check_simulable
    from hqvit.runtime.data import load_dataset
    from hqvit.runtime.encoding import tokens_from_images
    from hqvit.runtime.exact import exact_attention
    from hqvit.runtime.quantum_attention import QsimAttention, qsim_attention

    cfg = circuit_config(args)
    check_simulable(cfg.logical_qubits, f"the {cfg.image[0]}x{cfg.image[1]} / {cfg.patch[0]}x{cfg.patch[1]} circuit")
    if args.samples < 1:  # no config object to check it: this command is its only user
        raise InputError(f"--samples must be >= 1, got {args.samples}")
    t0 = time.perf_counter()
    dataset = args.dataset or ("digits" if max(cfg.image) <= 8 else "mnist5k")
    ds = load_dataset(dataset, cfg.image)
    rng = np.random.default_rng(args.seed)
    pick = rng.choice(len(ds.labels), size=min(args.samples, len(ds.labels)), replace=False)
    tokens = tokens_from_images(ds.images[pick].double(), cfg)
    params = torch.as_tensor(rng.uniform(-np.pi, np.pi, (cfg.heads, len(cfg.trainable_symbols()))))
    backend = QsimAttention(cfg)
    with torch.no_grad():
        s_qsim, mask = qsim_attention(tokens, params, backend)
        s_exact, valid = exact_attention(tokens, params, cfg)
    err = float((s_qsim - s_exact).abs().max())
    mask_ok = bool(torch.equal(mask, valid))
    passed = err <= args.tolerance and mask_ok
    result = {
        "image": list(cfg.image),
        "patch": list(cfg.patch),
        "swap_test": cfg.swap_test,
        "dataset": dataset,
        "samples": len(pick),
        "heads": cfg.heads,
        "logical_qubits": cfg.logical_qubits,
        "max_abs_error": err,
        "tolerance": args.tolerance,
        "masks_agree": mask_ok,
        "passed": passed,
        "seconds": round(time.perf_counter() - t0, 3),
    }
    emit(result, args.json, [f"{k:>16}: {v}" for k, v in result.items()])
    if not passed:
        print(
            f"hqvit: verification failed: max_abs_error {err:.3g} > {args.tolerance:g} or masks differ", file=sys.stderr
        )
        return EXIT_FAILED
    return EXIT_OK
