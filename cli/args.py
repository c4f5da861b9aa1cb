"""Argument types, the help format and the option groups shared by subcommands.

Everything here runs while the parser is built, so it imports nothing heavy: no torch, no cirq,
no compiler pipeline (``hqvit.compiler.hqvit`` needs numpy only). The converters reject text that
is not a number; the ranges are checked by the config objects (``TrainConfig.validate``,
``HQViTConfig``) except where no config object exists.
"""

from __future__ import annotations

import argparse
import math

from hqvit.compiler.hqvit import SWAP_TESTS, HQViTConfig, parse_size
from hqvit.ir.resources import MAX_SEED

OPT_LEVELS = (0, 1, 2, 3)  # the compile presets (hqvit.compiler.pipeline.PRESETS, which loads cirq)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Appends ``(default: X)`` to every option's help, ``(default: off)`` to a flag's. An option
    whose default is None gets nothing appended: its own help says what happens without it."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.nargs == 0 and action.default is False:
            return f"{action.help} (default: off)"
        if action.default is None or action.default == argparse.SUPPRESS:
            return action.help
        return super()._get_help_string(action)


def integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None


def number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None


def seed(text: str) -> int:
    """For commands without a config object that checks the seed (``train`` takes an integer)."""
    value = integer(text)
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be an integer in 0..{MAX_SEED}, got {text}")
    return value


def positive_finite(text: str) -> float:
    value = number(text)
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def comma_numbers(text: str) -> list[float]:
    """``0,0.5,1`` -> [0.0, 0.5, 1.0]; empty items are skipped, the range is the caller's to check."""
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be comma-separated numbers, got {text!r}") from None


def add_circuit_args(p: argparse.ArgumentParser) -> None:
    """The HQViT attention circuit's shape, checked by ``HQViTConfig``."""
    p.add_argument("--image", default="8x8", help="image size HxW, powers of two")
    p.add_argument("--patch", default="4x4", help="patch size PxP, powers of two")
    p.add_argument("--layers", type=integer, default=2, help="ansatz layers L of U_Q and U_K")
    p.add_argument("--heads", type=integer, default=1, help="attention heads")
    p.add_argument("--swap-test", choices=SWAP_TESTS, default="bell", help="swap-test lowering")


def circuit_config(args: argparse.Namespace) -> HQViTConfig:
    return HQViTConfig(
        parse_size(args.image, "--image"), parse_size(args.patch, "--patch"), args.layers, args.heads, args.swap_test
    )
