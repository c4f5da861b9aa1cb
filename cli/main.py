"""The ``hqvit`` command line. Every subcommand takes ``--json``: one JSON object as the last stdout line.

Bad input exits with status 2 and one ``hqvit: error: ...`` line on stderr; no tracebacks
(set HQVIT_DEBUG=1 to see one for an internal error).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from hqvit.compiler.hqvit import SWAP_TESTS, HQViTConfig, parse_size
from hqvit.ir.errors import CalibrationWarning, InputError, TrainingDiverged
from hqvit.runtime.encoding import data_bindings, tokens_from_images
from hqvit.runtime.train import MAX_SEED

EXIT_INPUT, EXIT_FAILED, EXIT_INTERNAL = 2, 1, 3
VERIFY_TOLERANCE = 1e-3  # 1 - |<logical|compiled>| in float32 over thousands of gates stays below ~3e-4


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad argument as one ``hqvit: error:`` line (no usage block), exit 2."""

    def error(self, message: str):
        self.exit(EXIT_INPUT, f"hqvit: error: {message}\n")


def _seed(text: str) -> int:
    value = _int(text)
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be an integer in 0..{MAX_SEED}, got {text}")
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None


def _positive_int(text: str) -> int:
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text}")
    return value


def _positive_finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def _config(args) -> HQViTConfig:
    return HQViTConfig(
        parse_size(args.image, "--image"), parse_size(args.patch, "--patch"), args.layers, args.heads, args.swap_test
    )


def _add_circuit_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--image", default="8x8", help="image size HxW, powers of two (default 8x8)")
    p.add_argument("--patch", default="4x4", help="patch size PxP, powers of two (default 4x4)")
    p.add_argument("--layers", type=int, default=2, help="ansatz layers L of U_Q and U_K (default 2)")
    p.add_argument("--heads", type=int, default=1, help="attention heads (default 1)")
    p.add_argument("--swap-test", choices=SWAP_TESTS, default="bell", help="swap-test lowering (default bell)")


def _json_default(x):
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.floating):
        return float(x)
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(f"{type(x).__name__} is not JSON serializable")


def _emit(result: dict, as_json: bool, human: list[str]) -> None:
    if as_json:
        print(json.dumps(result, default=_json_default))
    else:
        print("\n".join(human))


def _write(path: str, text: str) -> None:
    try:
        Path(path).write_text(text)
    except OSError as e:
        raise InputError(f"cannot write {path}: {e.strerror}") from None


def _random_bindings(circuit, cfg: HQViTConfig | None, spec: str) -> dict[str, float]:
    """``random:SEED``: a random non-negative image for the data symbols, uniform angles for the rest."""
    kind, _, seed_text = spec.partition(":")
    if kind != "random" or not seed_text.isdigit():
        raise InputError(f"--bind must look like random:SEED, got {spec!r}")
    rng = np.random.default_rng(int(seed_text))
    values: dict[str, float] = {}
    if cfg is not None:
        image = torch.as_tensor(rng.uniform(0, 1, (1, *cfg.image)))
        data = data_bindings(tokens_from_images(image, cfg))[0].numpy()
        values.update(zip(circuit.symbols_of_kind("data"), data, strict=True))
    for name in circuit.symbols:
        values.setdefault(name, float(rng.uniform(-np.pi, np.pi)))
    return values


def cmd_compile(args) -> int:
    from hqvit.compiler.pipeline import compile_circuit, compile_hqvit
    from hqvit.compiler.qasm import read_qasm2, to_qasm2, to_qasm3
    from hqvit.passes.lower import lower
    from hqvit.runtime.verify import verify_compiled
    from hqvit.targets import resolve_target

    if args.noise_scale < 0:
        raise InputError(f"--noise-scale must be >= 0, got {args.noise_scale}")
    target = resolve_target(args.target) if args.target else None
    if args.qasm:
        cfg = None
        compiled = compile_circuit(
            read_qasm2(args.qasm), target, opt=args.opt, seed=args.seed, noise_aware=not args.noise_blind
        )
    else:
        cfg = _config(args)
        compiled = compile_hqvit(cfg, target, opt=args.opt, seed=args.seed, noise_aware=not args.noise_blind)
    report = compiled.report(args.noise_scale)
    if args.verify:
        deviation = verify_compiled(compiled, trials=3, seed=0)
        report.update(verified=bool(deviation < VERIFY_TOLERANCE), verify_deviation=float(deviation))
        if not report["verified"]:
            print(
                f"hqvit: compiled circuit differs from the logical one (1 - |<a|b>| = {deviation:.3g})", file=sys.stderr
            )
    bindings = _random_bindings(compiled.circuit, cfg, args.bind) if args.bind else None
    if (args.emit_qasm or args.emit_logical_qasm) and bindings is None and compiled.circuit.symbols:
        raise InputError("OpenQASM 2 has no free parameters: add --bind random:SEED (or use --emit-qasm3)")
    if args.emit_qasm:
        _write(args.emit_qasm, to_qasm2(compiled.circuit, bindings))
    if args.emit_logical_qasm:
        _write(args.emit_logical_qasm, to_qasm2(lower(compiled.logical), bindings))
    if args.emit_qasm3:
        _write(args.emit_qasm3, to_qasm3(compiled.circuit))
    human = [f"{k:>24}: {v}" for k, v in report.items() if k not in ("passes", "initial_layout", "final_layout")]
    human += [
        f"{'pass ' + p['name']:>24}: {p['seconds']:.4f} s, {p['two_qubit_gates']} two-qubit gates"
        for p in report["passes"]
    ]
    _emit(report, args.json, human)
    return EXIT_FAILED if args.verify and not report["verified"] else 0


def cmd_targets(args) -> int:
    from hqvit.targets import CATALOGUE, describe, resolve_target
    from hqvit.targets.schema import save_target_file

    if args.action == "list":
        result = {"targets": [{"name": n, "description": d} for n, d in CATALOGUE]}
        _emit(result, args.json, [f"{n:28s} {d}" for n, d in CATALOGUE])
        return 0
    if not args.name:
        raise InputError(f"'hqvit targets {args.action}' needs a target NAME")
    target = resolve_target(args.name)
    if args.action == "show":
        d = describe(target)
        human = [f"{k:>16}: {v}" for k, v in d.items() if k != "edges"] + [f"{'edges':>16}: {len(d['edges'])}"]
        _emit(d, args.json, human)
        return 0
    if not args.out:
        raise InputError("'hqvit targets export' needs --out FILE")
    save_target_file(target, args.out)
    _emit({"name": target.name, "out": args.out}, args.json, [f"wrote {args.out}"])
    return 0


def _verify_dataset(cfg: HQViTConfig, name: str | None) -> str:
    return name or ("digits" if max(cfg.image) <= 8 else "mnist5k")


def cmd_verify(args) -> int:
    from hqvit.ir.resources import check_simulable
    from hqvit.runtime.data import load_dataset
    from hqvit.runtime.exact import exact_attention
    from hqvit.runtime.quantum_attention import QsimAttention, qsim_attention

    cfg = _config(args)
    check_simulable(cfg.logical_qubits, f"the {cfg.image[0]}x{cfg.image[1]} / {cfg.patch[0]}x{cfg.patch[1]} circuit")
    if args.samples < 1:
        raise InputError(f"--samples must be >= 1, got {args.samples}")
    t0 = time.perf_counter()
    dataset = _verify_dataset(cfg, args.dataset)
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
    _emit(result, args.json, [f"{k:>16}: {v}" for k, v in result.items()])
    if not passed:
        print(
            f"hqvit: verification failed: max_abs_error {err:.3g} > {args.tolerance:g} or masks differ", file=sys.stderr
        )
        return EXIT_FAILED
    return 0


def cmd_train(args) -> int:
    from hqvit.ir.resources import check_simulable
    from hqvit.runtime.train import TrainConfig, train

    cfg = TrainConfig(
        dataset=args.dataset,
        image=parse_size(args.image, "--image"),
        patch=parse_size(args.patch, "--patch"),
        layers=args.layers,
        heads=args.heads,
        swap_test=args.swap_test,
        blocks=args.blocks,
        attention=args.attention,
        backend=args.backend,
        shots=args.shots,
        epochs=args.epochs,
        batch=args.batch,
        lr=args.lr,
        seed=args.seed,
        limit=args.limit,
        out=args.out,
        target=args.target,
        noise=args.noise,
        trajectories=args.trajectories,
    )
    cfg.validate()
    if args.target and not args.noise:
        raise InputError("--target is used with --noise (train under that device's calibrated noise)")
    if args.noise:
        from hqvit.targets import resolve_target

        if not args.target:
            raise InputError("--noise needs --target NAME (the device whose calibrated noise to train under)")
        resolve_target(args.target)  # fail on a bad name before any data is loaded
    circuit_cfg = cfg.model_config(10).circuit  # validates sizes before any data is loaded
    if cfg.attention == "quantum" and cfg.backend == "qsim":
        check_simulable(circuit_cfg.logical_qubits, "the attention circuit")
    if circuit_cfg.features % circuit_cfg.heads:
        raise InputError(f"--heads {args.heads} must divide the token dimension {circuit_cfg.features}")
    log = (lambda m: print(m, file=sys.stderr)) if args.json else print
    result = train(cfg, resume=args.resume, log=log)
    result.pop("history")
    _emit(result, args.json, [f"{k:>20}: {v}" for k, v in result.items()])
    return 130 if result["interrupted"] else 0


def cmd_evaluate(args) -> int:
    from hqvit.runtime.train import evaluate

    result = evaluate(args.checkpoint, backend=args.backend)
    _emit(result, args.json, [f"{k:>14}: {v}" for k, v in result.items()])
    return 0


def _parse_scales(text: str) -> list[float]:
    try:
        scales = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise InputError(f"--scales must be comma-separated numbers, got {text!r}") from None
    if not scales or any(not (x >= 0) or x != x for x in scales):
        raise InputError(f"--scales must be non-negative numbers, got {text!r}")
    return scales


def _study_args(args) -> None:
    if args.trajectories < 2:
        raise InputError(f"--trajectories must be >= 2, got {args.trajectories}")
    if args.shots is not None and args.shots < 1:
        raise InputError(f"--shots must be >= 1, got {args.shots}")


def _writer(out_dir: Path, stem: str, plot):
    """Writes JSON (atomically) and the PNG after every finished point, so Ctrl-C loses nothing."""

    def write(result: dict) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        tmp = out_dir / f".{stem}.json.tmp"
        tmp.write_text(json.dumps(result, indent=1, default=_json_default))
        os.replace(tmp, out_dir / f"{stem}.json")
        plot(result, out_dir / f"{stem}.png")

    return write


def cmd_noise_sweep(args) -> int:
    from hqvit.studies.noise_study import load_study, plot_sweep, sweep
    from hqvit.targets import resolve_target

    _study_args(args)
    scales = _parse_scales(args.scales)
    resolve_target(args.target)  # a bad name fails before the data is loaded
    setup = load_study(args.checkpoint, args.limit)
    out = Path(args.out)
    stem = "noise-sweep-" + args.target.replace(":", "_").replace("/", "_").replace(",", "_")
    write = _writer(out, stem, plot_sweep)
    result = sweep(setup, args.target, scales, args.trajectories, args.shots, args.seed, args.opt, on_point=write)
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
    _emit(result, args.json, human)
    return 130 if result["interrupted"] else 0


def cmd_noise_compare(args) -> int:
    from hqvit.studies.noise_study import compare, load_study, plot_compare

    _study_args(args)
    names = [t for t in args.targets.split(",") if t.strip()]
    if not names:
        raise InputError("--targets needs at least one target name")
    from hqvit.targets import resolve_target

    for name in names:
        resolve_target(name)
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
    _emit(result, args.json, human)
    return 130 if result["interrupted"] else 0


def _add_study_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True, help="checkpoint.pt written by hqvit train")
    p.add_argument("--trajectories", type=int, default=32, help="noise trajectories per image and head (default 32)")
    p.add_argument("--shots", type=int, default=None, help="sample S from this many shots (default: exact)")
    p.add_argument("--limit", type=int, default=None, help="evaluate the first N test images only")
    p.add_argument("--opt", type=int, choices=(0, 1, 2, 3), default=2, help="compile preset (default 2)")
    p.add_argument("--seed", type=_seed, default=0, help="seed for compilation and trajectories (default 0)")
    p.add_argument("--out", default="runs/noise", help="directory for the JSON and PNG (default runs/noise)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="hqvit", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("compile", help="compile the HQViT attention circuit (or an OpenQASM 2 file)")
    _add_circuit_args(p)
    p.add_argument("--qasm", metavar="FILE", help="compile this OpenQASM 2 circuit instead of the HQViT circuit")
    p.add_argument("--bind", metavar="random:SEED", help="bind all symbols (needed for OpenQASM 2 output)")
    p.add_argument("--emit-qasm", metavar="FILE", help="write the compiled circuit as OpenQASM 2")
    p.add_argument("--emit-logical-qasm", metavar="FILE", help="write the lowered logical circuit as OpenQASM 2")
    p.add_argument(
        "--emit-qasm3", metavar="FILE", help="write the compiled circuit as OpenQASM 3 with input parameters"
    )
    p.add_argument("--target", metavar="NAME", help="device to compile for (see 'hqvit targets list'); default: ideal")
    p.add_argument(
        "--noise-scale", type=float, default=1.0, help="multiply the calibrated noise for the ESP (default 1)"
    )
    p.add_argument("--verify", action="store_true", help="check the compiled circuit against the logical one")
    p.add_argument("--opt", type=int, choices=(0, 1, 2, 3), default=2, help="optimization preset (default 2)")
    p.add_argument("--seed", type=_seed, default=0, help="seed for layout and routing trials (default 0)")
    p.add_argument("--noise-blind", action="store_true", help="ignore calibrated errors in layout and routing")
    p.set_defaults(func=cmd_compile)

    p = sub.add_parser("targets", help="list, show or export device targets")
    p.add_argument("action", choices=("list", "show", "export"))
    p.add_argument("name", nargs="?", help="target name (show, export)")
    p.add_argument("--out", metavar="FILE", help="where 'export' writes the target's JSON")
    p.set_defaults(func=cmd_targets)

    p = sub.add_parser("verify", help="compare the compiled circuit on qsim with the closed-form attention")
    _add_circuit_args(p)
    p.add_argument("--samples", type=int, default=8, help="real images to check (default 8)")
    p.add_argument(
        "--dataset", default=None, help="digits | mnist5k | idx:DIR (default: digits up to 8x8, else mnist5k)"
    )
    p.add_argument("--seed", type=_seed, default=0, help="seed for the images and angles (default 0)")
    p.add_argument("--tolerance", type=_positive_finite, default=1e-5, help="largest |S - S_exact| (default 1e-5)")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("train", help="train the hybrid model (or its classical twin) on real images")
    _add_circuit_args(p)
    p.add_argument("--dataset", default="digits", help="digits | mnist5k | idx:DIR (default digits)")
    p.add_argument("--blocks", type=int, default=1, help="transformer blocks (default 1)")
    p.add_argument("--backend", choices=("qsim", "exact"), default="qsim")
    p.add_argument("--attention", choices=("quantum", "classical"), default="quantum")
    p.add_argument(
        "--shots", type=int, default=None, help="estimate S from this many shots (default: exact probabilities)"
    )
    p.add_argument("--epochs", type=_positive_int, default=10, help="epochs (default 10)")
    p.add_argument("--batch", type=_positive_int, default=32, help="mini-batch size (default 32)")
    p.add_argument("--lr", type=_positive_finite, default=1e-2, help="Adam learning rate (default 0.01)")
    p.add_argument("--seed", type=_seed, default=0, help="seed for the split, initialization and order (default 0)")
    p.add_argument("--limit", type=int, default=None, help="use a stratified subset of N images")
    p.add_argument("--out", default="runs/latest", help="directory for checkpoint.pt (default runs/latest)")
    p.add_argument("--resume", metavar="FILE", help="continue training from this checkpoint")
    p.add_argument("--target", metavar="NAME", help="with --noise: the device whose noise to train under")
    p.add_argument("--noise", action="store_true", help="train under the target's calibrated noise (slow: use --limit)")
    p.add_argument("--trajectories", type=int, default=16, help="with --noise: trajectories per image (default 16)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="test accuracy of a checkpoint")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--backend", choices=("qsim", "exact"), default=None, help="default: the one it was trained with")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("noise-sweep", help="accuracy and attention fidelity of a checkpoint vs a target's noise scale")
    _add_study_args(p)
    p.add_argument("--target", required=True, help="device whose calibrated noise is scaled")
    p.add_argument("--scales", default="0,0.25,0.5,1,2", help="noise multipliers (default 0,0.25,0.5,1,2)")
    p.set_defaults(func=cmd_noise_sweep)

    p = sub.add_parser("noise-compare", help="a checkpoint at calibrated noise on several targets side by side")
    _add_study_args(p)
    p.add_argument("--targets", required=True, help="comma-separated target names")
    p.set_defaults(func=cmd_noise_compare)

    for p in sub.choices.values():
        p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    return parser


def _one_line_warnings(message, category, filename, lineno, file=None, line=None) -> None:
    """Calibration warnings are for the user: one line, no source location."""
    if issubclass(category, CalibrationWarning):
        print(f"hqvit: warning: {message}", file=sys.stderr)
    else:
        _default_showwarning(message, category, filename, lineno, file, line)


_default_showwarning = warnings.showwarning


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warnings
            return args.func(args)
    except InputError as e:
        print(f"hqvit: error: {e}", file=sys.stderr)
        return EXIT_INPUT
    except TrainingDiverged as e:
        print(f"hqvit: error: {e}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("hqvit: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # an internal error: still one line unless debugging
        if os.environ.get("HQVIT_DEBUG"):
            raise
        print(f"hqvit: internal error: {type(e).__name__}: {e} (set HQVIT_DEBUG=1 for a traceback)", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
