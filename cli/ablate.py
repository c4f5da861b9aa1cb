"""``hqvit ablate``: the attention variants trained with one command, seeds and budget, side by side.

Writes ``ablation.json``, ``ablation.md`` and ``ablation.png`` into ``--out`` after every finished
run (Ctrl-C keeps them, exit 130); each run's checkpoint goes to ``--out/<variant>-seed<S>/``.
Every option is checked (``AblationConfig.validate``) before any data is loaded.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hqvit.cli.args import integer
from hqvit.cli.output import EXIT_INTERRUPTED, EXIT_OK, emit, write_json_atomic, write_text
from hqvit.cli.train import ATTENTION_CHOICES, add_model_args, model_fields
from hqvit.ir.errors import InputError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ablate", help="train every attention variant over several seeds and tabulate them")
    add_model_args(p)
    p.add_argument(
        "--attentions", default=",".join(ATTENTION_CHOICES), help="comma-separated variants to train, same budget"
    )
    p.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (split, initialization, order)")
    p.add_argument(
        "--noisy-targets",
        help="comma-separated devices: each quantum model evaluated at calibrated noise (default: none)",
    )
    p.add_argument("--trajectories", type=integer, default=16, help="noise trajectories per image (noisy rows)")
    p.add_argument("--noisy-limit", type=integer, help="test images per noisy evaluation (default: all)")
    p.add_argument(
        "--device-shots",
        type=integer,
        help="estimate the device time of the quantum model at this many shots per circuit (default: no estimate)",
    )
    p.add_argument("--device-targets", help="comma-separated devices for --device-shots (default: the --noisy-targets)")
    p.add_argument("--out", default="runs/ablation", help="directory for the table, plot and checkpoints")
    p.set_defaults(func=run)


def _names(text: str | None) -> tuple[str, ...]:
    return tuple(t.strip() for t in (text or "").split(",") if t.strip())


def _targets(text: str | None) -> tuple[str, ...]:
    from hqvit.targets.registry import split_target_list

    return tuple(split_target_list(text or ""))


def _seeds(text: str) -> tuple[int, ...]:
    try:
        seeds = tuple(int(t) for t in _names(text))
    except ValueError:
        raise InputError(f"--seeds must be comma-separated integers, got {text!r}") from None
    if any(s < 0 for s in seeds):
        raise InputError(f"--seeds must be >= 0, got {text!r}")
    return seeds


def run(args: argparse.Namespace) -> int:
    from hqvit.runtime.distributed import init
    from hqvit.runtime.train import TrainConfig  # torch
    from hqvit.studies.ablation import AblationConfig, markdown, plot, run_ablation

    base = TrainConfig(**model_fields(args))
    cfg = AblationConfig(
        base=base,
        attentions=_names(args.attentions),
        seeds=_seeds(args.seeds),
        noisy_targets=_targets(args.noisy_targets),
        trajectories=args.trajectories,
        noisy_limit=args.noisy_limit,
        device_shots=args.device_shots,
        device_targets=_targets(args.device_targets),
        out=args.out,
    )
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is an existing file; it must name a directory")

    def write(result: dict) -> None:
        write_json_atomic(out / "ablation.json", result)
        write_text(str(out / "ablation.md"), markdown(result))
        plot(result, out / "ablation.png")

    log = (lambda m: print(m, file=sys.stderr)) if args.json else print  # --json keeps stdout to one object
    ranks = init()  # under torchrun the ranks share each run's batches and each noisy row's images
    if not ranks.main:  # rank 0 alone writes and prints
        result = run_ablation(cfg, log=_silent, ranks=ranks)
        return EXIT_INTERRUPTED if result["interrupted"] else EXIT_OK
    result = run_ablation(cfg, log=log, on_update=write, ranks=ranks)
    write(result)
    emit(result, args.json, [markdown(result), f"wrote {out / 'ablation.json'}, .md and .png"])
    return EXIT_INTERRUPTED if result["interrupted"] else EXIT_OK


def _silent(message: str) -> None:
    """The log of ranks other than 0."""
