"""``hqvit noise-sweep`` and ``hqvit noise-compare``: a trained checkpoint under device noise.

Both write JSON and a PNG after every finished point, so Ctrl-C loses nothing (exit 130). The
options are checked by ``hqvit.studies.noise_study.validate_options`` before the checkpoint loads.
``--dd auto`` (or ``xy4,auto``, ...) evaluates every point both without DD and with each mode,
and reports each mode's gain beside the no-DD figures (JSON ``dd``, the human lines, the PNG).
Under ``torchrun`` the ranks share each point's images (the figures do not change) and rank 0
alone writes the files and prints.
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
    p.add_argument(
        "--targets",
        required=True,
        help="comma-separated target names, each with optional @key=value,... overrides (required)",
    )
    p.set_defaults(func=run_compare)


def _add_study_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True, help="checkpoint.pt written by hqvit train (required)")
    p.add_argument("--trajectories", type=integer, default=32, help="noise trajectories per image and head")
    p.add_argument("--shots", type=integer, help="sample S from this many shots (default: exact probabilities)")
    p.add_argument("--limit", type=integer, help="evaluate the first N test images only (default: all)")
    p.add_argument("--opt", type=integer, choices=OPT_LEVELS, default=2, help="compile preset")
    p.add_argument("--seed", type=seed, default=0, help="seed for compilation and trajectories")
    p.add_argument("--out", default="runs/noise", help="directory for the JSON and PNG")
    p.add_argument(
        "--dd",
        default="none",
        metavar="MODES",
        help="also evaluate with dynamical decoupling, comma-separated modes out of xx, xy4, staggered, auto, "
        "and report each one's gain over no DD (default: none, no DD only)",
    )


def _dd_lines(row: dict, modes: list[str], extra: bool = False) -> list[str]:
    """One indented line per DD mode: its figures and its paired gain over no DD."""
    out = []
    for m in modes:
        d = row["dd"][m]
        g = d["gain"]
        ratio = (
            "n/a"
            if g["fidelity_ratio"] is None
            else f"x{g['fidelity_ratio']:.3f} ± {g['fidelity_ratio_ci95'] or 0:.3f}"
        )
        de = g["attention_error_change"]
        line = (
            f"    dd {m:>9}: accuracy {100 * d['accuracy']:.2f} % ({100 * g['accuracy_change']:+.2f} pt), "
            f"|dS| {d['attention_abs_error']:.4f} ({de if de is not None else float('nan'):+.4f} "
            f"± {g['attention_error_change_ci95'] or 0:.4f}), fidelity {d['distribution_fidelity']:.4f} ({ratio})"
        )
        if extra:
            info = d.get("dd") or {}
            line += f", {info.get('gates', 0)} DD gates in {info.get('windows', 0)} windows, ESP {d.get('esp', 1):.3g}"
        if d.get("same_circuit"):
            line += ", no DD gate inserted (same circuit)"
        out.append(line)
    return out


def _writer(out_dir: Path, stem: str, plot: Callable[[dict, Path], None]) -> Callable[[dict], None]:
    def write(result: dict) -> None:
        write_json_atomic(out_dir / f"{stem}.json", result)
        plot(result, out_dir / f"{stem}.png")

    return write


def run_sweep(args: argparse.Namespace) -> int:
    from hqvit.runtime.distributed import init
    from hqvit.studies.noise_study import load_study, parse_dd, plot_sweep, sweep, validate_options  # torch, cirq

    dd = parse_dd(args.dd)
    validate_options([args.target], args.trajectories, args.shots, args.scales, dd)
    setup = load_study(args.checkpoint, args.limit)
    ranks = init()
    out = Path(args.out)
    stem = "noise-sweep-" + args.target.replace(":", "_").replace("/", "_").replace(",", "_")
    write = _writer(out, stem, plot_sweep) if ranks.main else None
    result = sweep(
        setup,
        args.target,
        args.scales,
        args.trajectories,
        args.shots,
        args.seed,
        args.opt,
        on_point=write,
        dd=dd,
        ranks=ranks,
    )
    if not ranks.main:
        return EXIT_INTERRUPTED if result["interrupted"] else EXIT_OK
    write(result)
    human = [f"target {result['target']}: {result['compiled']}"]
    human += [f"with dd {m}: {c}" for m, c in result["compiled_dd"].items()]
    for p in result["points"]:
        human.append(
            f"scale {p['scale']:>5g}: accuracy {100 * p['accuracy']:.2f} % "
            f"[{100 * p['accuracy_ci95'][0]:.1f}, {100 * p['accuracy_ci95'][1]:.1f}], "
            f"|dS| {p['attention_abs_error']:.4f} ± {p.get('attention_abs_error_ci95') or 0:.4f}, "
            f"fidelity {p['distribution_fidelity']:.4f}, {p['seconds_per_image']:.3f} s/image"
        )
        human += _dd_lines(p, dd)
    human.append(f"wrote {out / (stem + '.json')} and {out / (stem + '.png')}")
    emit(result, args.json, human)
    return EXIT_INTERRUPTED if result["interrupted"] else EXIT_OK


def run_compare(args: argparse.Namespace) -> int:
    from hqvit.runtime.distributed import init
    from hqvit.studies.noise_study import compare, load_study, parse_dd, plot_compare, validate_options  # torch
    from hqvit.targets.registry import split_target_list

    names = split_target_list(args.targets)
    dd = parse_dd(args.dd)
    validate_options(names, args.trajectories, args.shots, dd=dd)
    setup = load_study(args.checkpoint, args.limit)
    ranks = init()
    out = Path(args.out)
    write = _writer(out, "noise-compare", plot_compare) if ranks.main else None
    result = compare(
        setup, names, args.trajectories, args.shots, args.seed, args.opt, on_point=write, dd=dd, ranks=ranks
    )
    if not ranks.main:
        return EXIT_INTERRUPTED if result["interrupted"] else EXIT_OK
    write(result)
    human = []
    for r in result["targets"]:
        human.append(
            f"{r['target']:>16}: accuracy {100 * r['accuracy']:.2f} %, |dS| {r['attention_abs_error']:.4f}, "
            f"fidelity {r['distribution_fidelity']:.4f}, 2q {r.get('two_qubit_gates')}, "
            f"duration {r.get('duration_ns', 0) / 1e3:.1f} us, ESP {r.get('esp', 1):.3g}"
        )
        human += _dd_lines(r, dd, extra=True)
    human.append(f"wrote {out / 'noise-compare.json'} and {out / 'noise-compare.png'}")
    emit(result, args.json, human)
    return EXIT_INTERRUPTED if result["interrupted"] else EXIT_OK
