"""``hqvit train``: the hybrid model (or its classical twin) on real images, checkpointed per epoch.

Every range and combination of arguments is checked by ``TrainConfig.validate`` (which ``train``
runs before loading data), so the converters here only turn text into numbers.
"""

from __future__ import annotations

import argparse
import sys

from hqvit.cli.args import add_circuit_args, integer, number
from hqvit.cli.output import EXIT_INTERRUPTED, EXIT_OK, emit
from hqvit.compiler.hqvit import parse_size

ATTENTION_CHOICES = ("quantum", "classical", "uniform", "frozen")  # runtime.model.ATTENTIONS, without torch


def add_model_args(p: argparse.ArgumentParser) -> None:
    """What ``train`` and ``ablate`` share: the data, the model's shape and the training budget."""
    add_circuit_args(p)
    p.add_argument("--dataset", default="digits", help="digits | mnist5k | idx:DIR")
    p.add_argument("--blocks", type=integer, default=1, help="transformer blocks")
    p.add_argument("--backend", choices=("qsim", "exact"), default="qsim", help="how the attention circuit is run")
    p.add_argument("--mlp-ratio", type=integer, default=4, help="MLP width per token dimension")
    p.add_argument(
        "--temperature", type=number, default=0.1, help="initial softmax temperature of the quantum scores (learned)"
    )
    p.add_argument(
        "--schedule", choices=("constant", "cosine"), default="constant", help="learning rate over the epochs"
    )
    p.add_argument(
        "--val",
        type=number,
        default=0.0,
        help="hold out this fraction of the training split for tuning; epochs report it and the test split "
        "is read once, at the end (default 0: epochs report the test split)",
    )
    p.add_argument("--epochs", type=integer, default=10, help="epochs")
    p.add_argument("--batch", type=integer, default=32, help="mini-batch size")
    p.add_argument("--lr", type=number, default=1e-2, help="Adam learning rate")
    p.add_argument("--limit", type=integer, help="use a stratified subset of N images (default: all)")
    p.add_argument(
        "--threads",
        type=integer,
        help="CPU threads for torch and qsim (default: by size, never by load: 1 up to 16 logical qubits, "
        "where a second thread measured slower; from 17 on, every core this process may use; under "
        "torchrun, the rank's share of them)",
    )


def model_fields(args: argparse.Namespace) -> dict:
    """The ``TrainConfig`` fields of ``add_model_args``' options."""
    return {
        "dataset": args.dataset,
        "image": parse_size(args.image, "--image"),
        "patch": parse_size(args.patch, "--patch"),
        "layers": args.layers,
        "heads": args.heads,
        "swap_test": args.swap_test,
        "blocks": args.blocks,
        "backend": args.backend,
        "epochs": args.epochs,
        "batch": args.batch,
        "lr": args.lr,
        "limit": args.limit,
        "threads": args.threads,
        "val": args.val,
        "mlp_ratio": args.mlp_ratio,
        "temperature": args.temperature,
        "schedule": args.schedule,
    }


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train the hybrid model (or its classical twin) on real images")
    add_model_args(p)
    p.add_argument(
        "--attention",
        choices=ATTENTION_CHOICES,
        default="quantum",
        help="attention scores: the HQViT circuit, its classical twin, or an ablation (uniform: every score "
        "equal; frozen: the circuit with U_Q, U_K fixed at their random initial angles)",
    )
    p.add_argument("--shots", type=integer, help="estimate S from this many shots (default: exact probabilities)")
    p.add_argument("--seed", type=integer, default=0, help="seed for the split, initialization and order")
    p.add_argument("--out", default="runs/latest", help="directory for checkpoint.pt")
    p.add_argument("--resume", metavar="FILE", help="continue training from this checkpoint (default: start afresh)")
    p.add_argument(
        "--target", metavar="NAME", help="with --noise: the device whose noise to train under (default: none)"
    )
    p.add_argument("--noise", action="store_true", help="train under the target's calibrated noise (slow: use --limit)")
    p.add_argument("--trajectories", type=integer, default=16, help="with --noise: trajectories per image")
    p.add_argument(
        "--gradient",
        choices=("adjoint", "shift"),
        default="adjoint",
        help="noiseless qsim gradients: one adjoint sweep, or parameter shift (--shots and --noise always shift)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hqvit.runtime.train import TrainConfig, train  # torch

    cfg = TrainConfig(
        **model_fields(args),
        attention=args.attention,
        shots=args.shots,
        seed=args.seed,
        out=args.out,
        target=args.target,
        noise=args.noise,
        trajectories=args.trajectories,
        gradient=args.gradient,
    )
    log = (lambda m: print(m, file=sys.stderr)) if args.json else print  # --json keeps stdout to one object
    result = train(cfg, resume=args.resume, log=log)
    result.pop("history")
    if result["rank"] == 0:  # under torchrun every rank has the same summary: rank 0 prints it once
        emit(
            {k: v for k, v in result.items() if k != "rank"},
            args.json,
            [f"{k:>20}: {v}" for k, v in result.items() if k != "rank"],
        )
    return EXIT_INTERRUPTED if result["interrupted"] else EXIT_OK
