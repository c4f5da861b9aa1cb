"""``hqvit shots``: a trained checkpoint's accuracy and attention error versus shots per circuit.

Writes ``shots.json``, ``shots.md`` and ``shots.png`` into ``--out`` after every finished budget
(Ctrl-C keeps them, exit 130). Options are checked by ``ShotConfig.validate`` before the
checkpoint is loaded; the list converters here only turn text into numbers.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hqvit.cli.args import integer, number
from hqvit.cli.output import EXIT_INTERRUPTED, EXIT_OK, emit, write_json_atomic, write_text
from hqvit.ir.errors import InputError

DEFAULT_SHOTS = "100,300,1000,3000,10000,30000,100000"  # studies/shot_budget.py:DEFAULT_SHOTS (torch-free here)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("shots", help="accuracy and |S - S_exact| of a checkpoint versus shots per circuit")
    p.add_argument("--checkpoint", required=True, help="checkpoint.pt of a quantum model (required)")
    p.add_argument("--shots", default=DEFAULT_SHOTS, help="comma-separated shots per circuit (image, block, head)")
    p.add_argument("--seeds", type=integer, default=3, help="shot-sampling seeds per budget")
    p.add_argument("--limit", type=integer, help="evaluate the first N test images only (default: all)")
    p.add_argument("--tolerance", type=number, default=1.0, help="accuracy points from the exact model")
    p.add_argument("--out", default="runs/shots", help="directory for shots.json, .md and .png")
    p.set_defaults(func=run)


def parse_shots(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise InputError(f"--shots must be comma-separated integers, got {text!r}") from None


def run(args: argparse.Namespace) -> int:
    from hqvit.runtime.distributed import init
    from hqvit.studies.shot_budget import ShotConfig, markdown, plot, run_shots  # torch

    cfg = ShotConfig(args.checkpoint, parse_shots(args.shots), args.seeds, args.limit, args.tolerance)
    cfg.validate()
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is an existing file; it must name a directory")

    def write(result: dict) -> None:
        write_json_atomic(out / "shots.json", result)
        write_text(str(out / "shots.md"), markdown(result))
        plot(result, out / "shots.png")

    log = (lambda m: print(m, file=sys.stderr)) if args.json else print  # --json keeps stdout to one object
    ranks = init()  # under torchrun the ranks share the images; rank 0 alone writes and prints
    result = run_shots(cfg, on_point=write if ranks.main else None, log=log if ranks.main else _silent, ranks=ranks)
    if not ranks.main:
        return EXIT_INTERRUPTED if result["interrupted"] else EXIT_OK
    write(result)
    emit(result, args.json, [markdown(result), f"wrote {out / 'shots.json'}, .md and .png"])
    return EXIT_INTERRUPTED if result["interrupted"] else EXIT_OK


def _silent(message: str) -> None:
    """The log of ranks other than 0."""
