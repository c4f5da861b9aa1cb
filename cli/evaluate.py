"""``hqvit evaluate``: test accuracy of a checkpoint written by ``hqvit train``."""

from __future__ import annotations

import argparse

from hqvit.cli.output import EXIT_OK, emit


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="test accuracy of a checkpoint")
    p.add_argument("--checkpoint", required=True, help="checkpoint.pt written by hqvit train (required)")
    p.add_argument(
        "--backend", choices=("qsim", "exact"), help="how to run the attention (default: the one it was trained with)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hqvit.runtime.quantized_model import evaluate_checkpoint  # torch; also runs hqvit quantize --save output

    result = evaluate_checkpoint(args.checkpoint, backend=args.backend)
    emit(result, args.json, [f"{k:>14}: {v}" for k, v in result.items()])
    return EXIT_OK
