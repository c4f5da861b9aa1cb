"""``hqvit noise-sweep`` and ``hqvit noise-compare``: a trained checkpoint under device noise.

Both write JSON and a PNG after every finished point, so Ctrl-C loses nothing (exit 130). The
options are checked by ``hqvit.studies.noise_study.validate_options`` before the checkpoint loads.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from hqvit.cli.args import OPT_LEVELS, comma_numbers, integer, seed
from hqvit.cli.output import EXIT_INTERRUPTED, EXIT_OK, emit, write_json_atomic


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("noise-sweep", help="accuracy and attention fidelity of a checkpoint vs a target's noise scale")
    _add_study_args(p)
    p.add_argument("--target", required=True, help="device whose calibrated noise is scaled (required)")
    p.add_argument("--scales", type=comma_numbers, default="0,0.25,0.5,1,2", help="noise multipliers")
    p.set_defaults(func=run_sweep)

    p = sub.add_parser("noise-compare", help="a checkpoint at calibrated noise on several targets side by side")
    _add_study_args(p)
    p.add_argument("--targets", required=True, help="comma-separated target names (required)")
    p.set_defaults(func=run_compare)


def _add_study_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True, help="checkpoint.pt written by hqvit train (required)")
    p.add_argument("--trajectories", type=integer, default=32, help="noise trajectories per image and head")
    p.add_argument("--shots", type=integer, help="sample S from this many shots (default: exact probabilities)")
    p.add_argument("--limit", type=integer, help="evaluate the first N test images only (default: all)")
    p.add_argument("--opt", type=integer, choices=OPT_LEVELS, default=2, help="compile preset")
    p.add_argument("--seed", type=seed, default=0, help="seed for compilation and trajectories")
    p.add_argument("--out", default="runs/noise", help="directory for the JSON and PNG")


def _writer(out_dir: Path, stem: str, plot: Callable[[dict, Path], None]) -> Callable[[dict], None]:
    def write(result: dict) -> None:
        write_json_atomic(out_dir / f"{stem}.json", result)
        plot(result, out_dir / f"{stem}.png")

    return write


def run_sweep(args: argparse.Namespace) -> int:
    from hqvit.studies.noise_study import load_study, plot_sweep, sweep, validate_options  # torch, cirq, qsim

    validate_options([args.target], args.trajectories, args.shots, args.scales)
    setup = load_study(args.checkpoint, args.limit)
    out = Path(args.out)
    stem = "noise-sweep-" + args.target.replace(":", "_").replace("/", "_").replace(",", "_")
    write = _writer(out, stem, plot_sweep)
    result = sweep(setup, args.target, args.scales, args.trajectories, args.shots, args.seed, args.opt, on_point=write)
    write(result)
    human = [f"target {result['target']}: {result['compiled']}"]
    for p in result["points"]:
        human.append(
            f"scale {p['scale']:>5g}: accuracy {100 * p['accuracy']:.2f} % "
            f"[{100 * p['accuracy_ci95'][0]:.1f}, {100 * p['accuracy_ci95'][1]:.1f}], "
            f"|dS| {p['attention_abs_error']:.4f} ± {p.get('attention_abs_error_ci95') or 0:.4f}, "
            f"fidelity {p['distribution_fidelity']:.4f}, {p['seconds_per_image']:.3f} s/image"
        )
    human.append(f"wrote {out / (stem + '.json')} and {out / (stem + '.png')}")
    emit(result, args.json, human)
    return EXIT_INTERRUPTED if result["interrupted"] else EXIT_OK


def run_compare(args: argparse.Namespace) -> int:
    from hqvit.studies.noise_study import compare, load_study, plot_compare, validate_options  # torch, cirq, qsim

    names = [t for t in args.targets.split(",") if t.strip()]
    validate_options(names, args.trajectories, args.shots)
    setup = load_study(args.checkpoint, args.limit)
    out = Path(args.out)
    write = _writer(out, "noise-compare", plot_compare)
    result = compare(setup, names, args.trajectories, args.shots, args.seed, args.opt, on_point=write)
    write(result)
    human = [
        f"{r['target']:>16}: accuracy {100 * r['accuracy']:.2f} %, |dS| {r['attention_abs_error']:.4f}, "
        f"2q {r.get('two_qubit_gates')}, duration {r.get('duration_ns', 0) / 1e3:.1f} us, ESP {r.get('esp', 1):.3g}"
        for r in result["targets"]
    ]
    human.append(f"wrote {out / 'noise-compare.json'} and {out / 'noise-compare.png'}")
    emit(result, args.json, human)
    return EXIT_INTERRUPTED if result["interrupted"] else EXIT_OK
