"""``hqvit compile``: the HQViT attention circuit (or an OpenQASM 2 file) for a device."""

from __future__ import annotations

import argparse
import sys

from hqvit.cli.args import OPT_LEVELS, add_circuit_args, circuit_config, integer, number, seed
from hqvit.cli.output import EXIT_FAILED, EXIT_OK, emit, write_text
from hqvit.ir.errors import InputError

DD_MODES = ("none", "xx", "xy4", "staggered", "auto")  # passes/dynamical_decoupling.py:MODES
VERIFY_TOLERANCE = 1e-3  # 1 - |<logical|compiled>| in float32 over thousands of gates stays below ~3e-4


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compile", help="compile the HQViT attention circuit (or an OpenQASM 2 file)")
    add_circuit_args(p)
    p.add_argument("--qasm", metavar="FILE", help="compile this OpenQASM 2 circuit (default: the HQViT circuit)")
    p.add_argument(
        "--bind", metavar="random:SEED", help="bind all symbols, needed for OpenQASM 2 output (default: symbolic)"
    )
    p.add_argument("--emit-qasm", metavar="FILE", help="write the compiled circuit as OpenQASM 2 (default: none)")
    p.add_argument(
        "--emit-logical-qasm", metavar="FILE", help="write the lowered logical circuit as OpenQASM 2 (default: none)"
    )
    p.add_argument(
        "--emit-qasm3",
        metavar="FILE",
        help="write the compiled circuit as OpenQASM 3 with input parameters (default: none)",
    )
    p.add_argument(
        "--target", metavar="NAME", help="device to compile for, see 'hqvit targets list' (default: ideal, all-to-all)"
    )
    p.add_argument("--noise-scale", type=number, default=1.0, help="multiply the calibrated noise for the ESP")
    p.add_argument("--verify", action="store_true", help="check the compiled circuit against the logical one")
    p.add_argument("--opt", type=integer, choices=OPT_LEVELS, default=2, help="optimization preset")
    p.add_argument("--seed", type=seed, default=0, help="seed for layout and routing trials")
    p.add_argument("--noise-blind", action="store_true", help="ignore calibrated errors in layout and routing")
    p.add_argument(
        "--dd",
        choices=DD_MODES,
        default="none",
        help="dynamical decoupling in idle windows (needs --target): a sequence everywhere it fits, "
        "staggered between ZZ-coupled neighbours, or auto: only where the noise model predicts a gain",
    )
    p.add_argument(
        "--specialize",
        metavar="DATASET",
        help="drop the encoding rotations this data set never needs (digits | mnist5k | idx:DIR); the "
        "compiled circuit then binds only images that are zero wherever all of the data set is (default: none, "
        "the full encoding)",
    )
    p.add_argument(
        "--shots",
        type=integer,
        help="also estimate the device time of one training epoch and one test-set evaluation at this many "
        "shots per circuit execution, with --target (default: no estimate)",
    )
    p.add_argument("--dataset", default="digits", help="with --shots: the data set whose split sizes are used")
    p.add_argument("--limit", type=integer, help="with --shots: use N images of the data set (default: all)")
    p.add_argument("--blocks", type=integer, default=1, help="with --shots: attention blocks of the model")
    p.add_argument("--val", type=number, default=0.0, help="with --shots: the fraction of training images held out")
    p.set_defaults(func=run)


def _device_time(compiled, args: argparse.Namespace) -> dict:
    """The device-time estimate of ``--shots`` for the model's train / test split sizes."""
    from hqvit.runtime.data import load_dataset, split
    from hqvit.runtime.train import TrainConfig, validation_split
    from hqvit.studies.device_time import Workload, estimate

    ds = load_dataset(args.dataset, compiled.config.image)
    train, test = split(ds, 0, args.limit)
    train, _ = validation_split(ds, train, TrainConfig(val=args.val))
    return estimate(compiled, Workload(len(train), len(test), args.blocks), args.shots)


def run(args: argparse.Namespace) -> int:
    # the compiler pipeline loads cirq, sympy and numba: only once a compile is really asked for
    from hqvit.compiler.pipeline import compile_circuit, compile_hqvit
    from hqvit.compiler.qasm import read_qasm2, to_qasm2, to_qasm3
    from hqvit.passes.lower import lower
    from hqvit.targets import resolve_target

    if args.noise_scale < 0:  # CompiledCircuit.report has no check of its own
        raise InputError(f"--noise-scale must be >= 0, got {args.noise_scale}")
    target = resolve_target(args.target) if args.target else None
    if args.dd != "none" and target is None:
        raise InputError(f"--dd {args.dd} needs --target: the logical circuit has no timing to decouple")
    if args.shots is not None:
        from hqvit.studies.device_time import check_inputs

        if target is None or args.qasm:
            raise InputError("--shots estimates the HQViT circuit's device time: give --target, not --qasm")
        check_inputs(target, args.shots, args.blocks)
        if not 0 <= args.val <= 0.5:  # runtime.train.MAX_VAL, as hqvit train checks it
            raise InputError(f"--val must be a fraction in [0, 0.5], got {args.val}")
    if args.qasm and args.specialize:
        raise InputError("--specialize applies to the HQViT circuit, not to --qasm input")
    if args.qasm:
        cfg = None
        compiled = compile_circuit(
            read_qasm2(args.qasm), target, opt=args.opt, seed=args.seed, noise_aware=not args.noise_blind, dd=args.dd
        )
    else:
        cfg = circuit_config(args)
        specialization = None
        if args.specialize:
            from hqvit.runtime.data import load_dataset
            from hqvit.runtime.encoding import dataset_specialization

            try:
                images = load_dataset(args.specialize, cfg.image).images
            except InputError as e:
                raise InputError(f"--specialize: {e}") from None
            specialization = dataset_specialization(images, cfg, args.specialize)
        compiled = compile_hqvit(
            cfg,
            target,
            opt=args.opt,
            seed=args.seed,
            noise_aware=not args.noise_blind,
            specialization=specialization,
            dd=args.dd,
        )
    report = compiled.report(args.noise_scale)
    if args.verify:
        from hqvit.runtime.verify import verify_compiled

        deviation = verify_compiled(compiled, trials=3, seed=0)
        report.update(verified=bool(deviation < VERIFY_TOLERANCE), verify_deviation=float(deviation))
        if not report["verified"]:
            print(
                f"hqvit: compiled circuit differs from the logical one (1 - |<a|b>| = {deviation:.3g})", file=sys.stderr
            )
    bindings = None
    if args.bind:
        from hqvit.runtime.bindings import random_bindings  # torch: the image -> angles map

        bindings = random_bindings(compiled.circuit, cfg, args.bind, compiled.specialization)
    if (args.emit_qasm or args.emit_logical_qasm) and bindings is None and compiled.circuit.symbols:
        raise InputError("OpenQASM 2 has no free parameters: add --bind random:SEED (or use --emit-qasm3)")
    if args.emit_qasm:
        write_text(args.emit_qasm, to_qasm2(compiled.circuit, bindings))
    if args.emit_logical_qasm:
        write_text(args.emit_logical_qasm, to_qasm2(lower(compiled.logical), bindings))
    if args.emit_qasm3:
        write_text(args.emit_qasm3, to_qasm3(compiled.circuit))
    device_time = _device_time(compiled, args) if args.shots is not None else None
    if device_time is not None:
        report["device_time"] = device_time
    hidden = ("passes", "initial_layout", "final_layout", "device_time")
    human = [f"{k:>24}: {v}" for k, v in report.items() if k not in hidden]
    human += [
        f"{'pass ' + p['name']:>24}: {p['seconds']:.4f} s, {p['two_qubit_gates']} two-qubit gates"
        for p in report["passes"]
    ]
    if device_time is not None:
        from hqvit.studies.device_time import summary_lines

        human += summary_lines(device_time)
    emit(report, args.json, human)
    return EXIT_FAILED if args.verify and not report["verified"] else EXIT_OK
