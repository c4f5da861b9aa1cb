"""``hqvit quantize``: post-training quantization of a trained checkpoint, accuracy against bits.

Writes JSON and Markdown to ``--out`` after every finished setting, so Ctrl-C keeps what is done
(exit 130), and the PNG (accuracy vs bits, one curve per part) when the sweep ends or is
stopped; with ``--target`` the angle settings are also evaluated under that device's calibrated
noise (trajectories of the circuit compiled for it); ``--save`` writes the quantized model of
the first bits of each list, which ``hqvit evaluate`` runs. The options are checked by
``hqvit.studies.quantize_study`` (``parse_options``, ``check_paths``) before the checkpoint
loads.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hqvit.cli.args import integer, number, seed
from hqvit.cli.output import EXIT_INTERRUPTED, EXIT_OK, emit, write_json_atomic

STEM = "quantize"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("quantize", help="post-training quantization: accuracy vs weight, activation and angle bits")
    p.add_argument("--checkpoint", required=True, help="checkpoint.pt written by hqvit train (required)")
    p.add_argument("--weight-bits", default="8,6,4", help="Linear weight bits, per output channel (2..16)")
    p.add_argument("--act-bits", default="8,6,4", help="activation bits (2..16)")
    p.add_argument("--angle-bits", default="12,10,8,6,4", help="rotation-angle bits of 2π (2..32)")
    p.add_argument(
        "--angle-mode",
        choices=("round", "interpolate", "both"),
        default="both",
        help="nearest grid angle, or probabilistic interpolation between grid angles (unbiased)",
    )
    p.add_argument("--calibration", type=integer, default=256, help="training images that calibrate activations")
    p.add_argument("--samples", type=integer, default=32, help="interpolate: angle draws per image and head")
    p.add_argument(
        "--ln-quantizer",
        choices=("repq", "uniform"),
        default="repq",
        help="post-LayerNorm activations of the saved / deploy setting: RepQ-ViT reparameterization or per tensor",
    )
    p.add_argument(
        "--softmax-quantizer",
        choices=("log2", "uniform"),
        default="log2",
        help="post-softmax attention of the saved / deploy setting",
    )
    p.add_argument(
        "--target",
        help="also evaluate the angle settings under this target's calibrated noise, one of hqvit targets list "
        "(default: none, noiseless only)",
    )
    p.add_argument(
        "--trajectories", type=integer, help="with --target: noise trajectories per image and head (default: 32)"
    )
    p.add_argument("--noise-scale", type=number, help="with --target: multiplier of the calibrated noise (default: 1)")
    p.add_argument("--limit", type=integer, help="evaluate the first N test images only (default: all)")
    p.add_argument("--seed", type=seed, default=0, help="seed for the calibration subset and the angle draws")
    p.add_argument("--threads", type=integer, default=1, help="CPU threads for torch")
    p.add_argument("--out", default="runs/quantize", help="directory for the JSON, Markdown and PNG")
    p.add_argument("--save", help="write the quantized model of the first bits of each list here (default: none)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hqvit.studies import quantize_study as q  # torch, cirq, qsim

    opts = q.parse_options(
        args.weight_bits,
        args.act_bits,
        args.angle_bits,
        args.angle_mode,
        args.calibration,
        args.samples,
        args.ln_quantizer,
        args.softmax_quantizer,
        args.limit,
        args.seed,
        args.threads,
        args.target,
        args.trajectories,
        args.noise_scale,
    )
    q.check_paths(args.out, args.save)
    setup = q.load_setup(args.checkpoint, opts)
    out = Path(args.out)

    def write(result: dict, png: bool = False) -> None:
        """JSON and Markdown after every setting; the PNG (about a second to draw) at the end."""
        write_json_atomic(out / f"{STEM}.json", result)
        (out / f"{STEM}.md").write_text(q.markdown(result))
        if png:
            q.plot(result, out / f"{STEM}.png")

    saved = None
    if args.save:
        saved = q.save_deploy(setup, opts, args.save)
    result = q.sweep(setup, opts, on_point=write)
    if saved is not None:
        result["saved"] = {"path": args.save, "setting": saved.label()}
    write(result, png=True)
    human = q.summary_lines(result)
    human.append(f"wrote {out / (STEM + '.json')}, {out / (STEM + '.md')} and {out / (STEM + '.png')}")
    if saved is not None:
        human.append(f"saved {saved.label()} to {args.save} (hqvit evaluate --checkpoint {args.save})")
    emit(result, args.json, human)
    return EXIT_INTERRUPTED if result["interrupted"] else EXIT_OK
