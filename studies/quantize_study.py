"""Post-training quantization of a trained HQViT checkpoint: accuracy against bits, part by part.

Parts (each a curve of the plot, each point one ``QuantSettings`` evaluated on the test split):

- ``weights``: every Linear weight at B bits (per output channel), activations in float;
- ``activations`` with each choice of the two ViT-specific quantizers: uniform, RepQ LayerNorm,
  log2 softmax, both (weights in float), so each quantizer's effect is visible on its own;
- ``W/A``: every pair of weight and activation bits, with the uniform quantizers and with both
  ViT-specific ones (the Markdown's grid);
- ``angles``: every rotation angle of the compiled circuit at B bits of 2π, rounded or by
  probabilistic interpolation, classical layers in float;
- ``deploy``: the first weight and activation bits with the chosen LayerNorm / softmax
  quantizers, plus the angles at each B (the setting ``--save`` writes uses the first B);
- with a target (``--target``): ``noisy full precision`` and ``noisy angles`` (round /
  interpolate) at each B, classical layers in float, S from trajectories of the circuit compiled
  for the target under its calibrated noise times ``--noise-scale``
  (``hqvit.runtime.noisy_quantized``). |S − S_full| is still against the *noiseless*
  full-precision S, so the noisy full-precision row is the device's share of the error and the
  noisy angle rows show what the grid adds to it. The noiseless angle rows quantize the gate
  angles of the circuit compiled without a target and the noisy rows those of the target's
  native gates (what its electronics set); on the targets here each compiled gate angle is one
  data or trainable angle plus a multiple of π, or a multiple of π/2, so both grids give the same
  rotations up to a sign, and at noise scale 0 the noisy rows reproduce the noiseless ones
  (tested).

Per point: test accuracy with a 95 % Wilson interval, agreement of the predictions with the
full-precision model's, mean |S − S_full| (the circuit's attention coefficients) and
|A − A_full| (the post-softmax attention the values are mixed with) over valid token pairs, the
model size in bytes, and for interpolation the sampling overhead (Π γ)². Activation quantizers
are calibrated once, on ``calibration`` training images, by running the full-precision model.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from hqvit.compiler.pipeline import compile_hqvit
from hqvit.ir.errors import InputError
from hqvit.runtime.checkpoint import load_checkpoint
from hqvit.runtime.classical_quantization import QuantizedViT, QuantPlan, build_plan, calibrate, model_bytes
from hqvit.runtime.model import ModelConfig, VisionTransformer
from hqvit.runtime.noisy_quantized import NoiseSpec, noisy_angles
from hqvit.runtime.quant_settings import (
    ANGLE_BITS,
    CLASSICAL_BITS,
    LN_QUANTIZERS,
    SOFTMAX_QUANTIZERS,
    QuantSettings,
    parse_bits,
)
from hqvit.runtime.quantized_model import quantized_angles, save_quantized
from hqvit.runtime.train import MAX_THREADS, checkpoint_configs, prepare, restore_model, seed_everything
from hqvit.studies.noise_study import compiled_summary, wilson
from hqvit.targets import resolve_target

ANGLE_MODE_CHOICES = ("round", "interpolate", "both")
ACTIVATION_VARIANTS = {  # part name -> (ln, softmax)
    "activations": ("uniform", "uniform"),
    "activations + RepQ LN": ("repq", "uniform"),
    "activations + log2 softmax": ("uniform", "log2"),
    "activations + RepQ + log2": ("repq", "log2"),
}


@dataclass
class Options:
    weight_bits: list[int]
    act_bits: list[int]
    angle_bits: list[int]
    angle_modes: list[str]
    calibration: int = 256
    samples: int = 32
    ln: str = "repq"
    softmax: str = "log2"
    limit: int | None = None
    seed: int = 0
    threads: int = 1
    target: str | None = None  # noisy angle rows on this target's compiled circuit and noise
    trajectories: int = 32
    noise_scale: float = 1.0


def parse_options(
    weight_bits: str,
    act_bits: str,
    angle_bits: str,
    angle_mode: str,
    calibration: int,
    samples: int,
    ln: str,
    softmax: str,
    limit: int | None,
    seed: int,
    threads: int = 1,
    target: str | None = None,
    trajectories: int | None = None,
    noise_scale: float | None = None,
) -> Options:
    """Every option checked before the checkpoint loads (the target's width once the circuit is
    known, in ``load_setup``); each message names its argument."""
    if angle_mode not in ANGLE_MODE_CHOICES:
        raise InputError(f"--angle-mode must be one of {', '.join(ANGLE_MODE_CHOICES)}, got {angle_mode!r}")
    if ln not in LN_QUANTIZERS:
        raise InputError(f"--ln-quantizer must be one of {', '.join(LN_QUANTIZERS)}, got {ln!r}")
    if softmax not in SOFTMAX_QUANTIZERS:
        raise InputError(f"--softmax-quantizer must be one of {', '.join(SOFTMAX_QUANTIZERS)}, got {softmax!r}")
    if calibration < 1:
        raise InputError(f"--calibration must be >= 1 training images, got {calibration}")
    if samples < 1:
        raise InputError(f"--samples must be >= 1, got {samples}")
    if limit is not None and limit < 1:
        raise InputError(f"--limit must be >= 1, got {limit}")
    if not 1 <= threads <= MAX_THREADS:
        raise InputError(f"--threads must be an integer in 1..{MAX_THREADS}, got {threads}")
    if target is None:
        for value, arg in ((trajectories, "--trajectories"), (noise_scale, "--noise-scale")):
            if value is not None:
                raise InputError(f"{arg} needs --target: noise trajectories run on a target's noise model")
    else:
        try:
            resolve_target(target)
        except InputError as e:
            raise InputError(f"--target {target}: {e}") from None
    if trajectories is not None and trajectories < 2:
        raise InputError(f"--trajectories must be >= 2 (two halves estimate the trajectory error), got {trajectories}")
    if noise_scale is not None and not 0 <= noise_scale < float("inf"):  # False for NaN
        raise InputError(f"--noise-scale must be a finite number >= 0, got {noise_scale}")
    modes = ["round", "interpolate"] if angle_mode == "both" else [angle_mode]
    return Options(
        parse_bits(weight_bits, "--weight-bits", CLASSICAL_BITS),
        parse_bits(act_bits, "--act-bits", CLASSICAL_BITS),
        parse_bits(angle_bits, "--angle-bits", ANGLE_BITS),
        modes,
        calibration,
        samples,
        ln,
        softmax,
        limit,
        seed,
        threads,
        target,
        32 if trajectories is None else trajectories,
        1.0 if noise_scale is None else noise_scale,
    )


@dataclass
class Setup:
    checkpoint: str
    ckpt: dict
    model: VisionTransformer
    mcfg: ModelConfig
    images: torch.Tensor  # the test images evaluated
    labels: torch.Tensor
    calibration: dict[str, torch.Tensor]
    dataset: str
    noise: NoiseSpec | None = None  # with --target: its compiled circuit and the noise settings


def load_setup(checkpoint: str, opts: Options) -> Setup:
    ckpt = load_checkpoint(checkpoint)
    cfg, mcfg = checkpoint_configs(ckpt, checkpoint)
    if mcfg.attention != "quantum":
        raise InputError(f"checkpoint {checkpoint} has classical attention: hqvit quantize needs an HQViT model")
    seed_everything(cfg.seed)
    torch.set_num_threads(opts.threads)  # many small tensor ops: extra threads only contend
    ds, tr, te = prepare(cfg)
    if opts.limit is not None:
        te = te[: opts.limit]
    model = restore_model(ckpt, mcfg, checkpoint, backend="qsim", seed=cfg.seed)
    model.eval()
    noise = None
    if opts.target is not None:
        try:
            compiled = compile_hqvit(mcfg.circuit, resolve_target(opts.target), opt=2, seed=opts.seed)
        except InputError as e:  # e.g. the circuit is wider than the device
            raise InputError(f"--target {opts.target}: {e}") from None
        noise = NoiseSpec(compiled, opts.noise_scale, opts.trajectories, opts.seed)
    pick = np.random.default_rng(opts.seed).permutation(tr)[: opts.calibration]
    return Setup(
        checkpoint,
        ckpt,
        model,
        mcfg,
        ds.images[te],
        ds.labels[te],
        calibrate(model, ds.images[pick]),
        cfg.dataset,
        noise,
    )


def settings_grid(opts: Options) -> list[tuple[str, int, QuantSettings]]:
    """(part, bits on the plot's x axis, setting) for every point of the sweep, in order."""
    base = QuantSettings(samples=opts.samples, seed=opts.seed)
    grid = [("weights", w, replace(base, weight_bits=w)) for w in opts.weight_bits]
    for part, (ln, sm) in ACTIVATION_VARIANTS.items():
        grid += [(part, a, replace(base, act_bits=a, ln=ln, softmax=sm)) for a in opts.act_bits]
    for (ln, sm), (w, a) in itertools.product(
        [("uniform", "uniform"), ("repq", "log2")], itertools.product(opts.weight_bits, opts.act_bits)
    ):
        part = "W/A" if ln == "uniform" else "W/A + RepQ + log2"
        grid.append((part, w, replace(base, weight_bits=w, act_bits=a, ln=ln, softmax=sm)))
    for mode in opts.angle_modes:
        grid += [(f"angles ({mode})", b, replace(base, angle_bits=b, angle_mode=mode)) for b in opts.angle_bits]
    deploy = deploy_settings(opts)
    for mode in opts.angle_modes:
        grid += [
            (
                f"W{deploy.weight_bits}A{deploy.act_bits} + angles ({mode})",
                b,
                replace(deploy, angle_bits=b, angle_mode=mode),
            )
            for b in opts.angle_bits
        ]
    return grid


def deploy_settings(opts: Options) -> QuantSettings:
    """The setting ``--save`` writes: the first of each list, the chosen ViT quantizers."""
    return QuantSettings(
        weight_bits=opts.weight_bits[0],
        act_bits=opts.act_bits[0],
        ln=opts.ln,
        softmax=opts.softmax,
        angle_bits=opts.angle_bits[0],
        angle_mode=opts.angle_modes[0],
        samples=opts.samples,
        seed=opts.seed,
    ).validate()


@torch.no_grad()
def run_setting(setup: Setup, settings: QuantSettings, batch: int = 64, noisy: bool = False) -> dict:
    """Predictions, attention traces and size of one setting over the test images (``noisy``:
    S under ``setup.noise``, the angles on the setting's grid or in full precision)."""
    plan = build_plan(setup.model, settings, setup.calibration) if settings.classical else None
    qvit = QuantizedViT(setup.model, plan)
    qvit.trace = []
    preds = []
    t0 = time.perf_counter()
    angles = noisy_angles(setup.model, settings, setup.noise) if noisy else quantized_angles(setup.model, settings)
    with angles as backends:
        desc = ("noisy " if noisy else "") + settings.label()
        for start in tqdm(range(0, len(setup.labels), batch), desc=desc, leave=False, disable=None):
            preds.append(qvit(setup.images[start : start + batch]).argmax(1))
    blocks = len(setup.model.blocks)
    trace = {
        key: [torch.cat([t[key] for t in qvit.trace if t["block"] == k]) for k in range(blocks)]
        for key in ("s", "mask", "attn")
    }
    if noisy:
        overhead = [x for b in backends for x in getattr(b, "overhead", [])]
    else:
        overhead = [x for b in backends for x in b.record.overhead]
    out = {
        "pred": torch.cat(preds) if preds else torch.zeros(0, dtype=torch.long),
        "trace": trace,
        "model_bytes": model_bytes(setup.model, plan if plan is not None else QuantPlan(settings)),
        "seconds": time.perf_counter() - t0,
        "sampling_overhead": float(np.mean(overhead)) if overhead else None,
    }
    if noisy:
        half_rms = np.array([r for b in backends for r in b.record.half_difference_rms])
        half_rms = half_rms[np.isfinite(half_rms)]  # NaN where a half saw no valid token pair
        # the trajectory (Monte Carlo) standard error of S, from the two halves of the trajectories
        out["attention_trajectory_se"] = float(np.sqrt(np.mean(half_rms**2)) / 2) if len(half_rms) else None
        # an interpolated estimate is a signed, weighted mean (entries can be negative, its total
        # is only 1 on average): not a distribution, so it has no classical fidelity
        fidelity = [f for b in backends for f in b.record.fidelity]
        interpolated = settings.angle_bits is not None and settings.angle_mode == "interpolate"
        out["distribution_fidelity"] = float(np.mean(fidelity)) if fidelity and not interpolated else None
    return out


def attention_errors(run: dict, reference: dict) -> tuple[float, float]:
    """Mean |S − S_full| and |A − A_full| over valid (query, key) token pairs, all blocks and heads."""
    ds, da, n = 0.0, 0.0, 0
    for s, a, s0, a0, mask in zip(
        run["trace"]["s"],
        run["trace"]["attn"],
        reference["trace"]["s"],
        reference["trace"]["attn"],
        reference["trace"]["mask"],
        strict=True,
    ):
        pair = (mask[:, None, :, None] & mask[:, None, None, :]).expand_as(s)
        ds += float((s - s0).abs()[pair].sum())
        da += float((a - a0).abs()[pair].sum())
        n += int(pair.sum())
    return (ds / n, da / n) if n else (0.0, 0.0)


def point(
    part: str, bits: int | None, settings: QuantSettings, run: dict, reference: dict, labels: torch.Tensor
) -> dict:
    n = len(labels)
    correct = int((run["pred"] == labels).sum())
    s_err, a_err = attention_errors(run, reference)
    out = {
        "part": part,
        "bits": bits,
        "label": settings.label(),
        "settings": settings.to_dict(),
        "test_samples": n,
        "accuracy": correct / max(n, 1),
        "accuracy_ci95": list(wilson(correct, n)),
        "agreement": float((run["pred"] == reference["pred"]).float().mean()) if n else None,
        "attention_score_error": s_err,
        "attention_prob_error": a_err,
        "model_bytes": run["model_bytes"],
        "seconds": round(run["seconds"], 3),
    }
    if run["sampling_overhead"] is not None:
        out["sampling_overhead"] = run["sampling_overhead"]
    for key in ("attention_trajectory_se", "distribution_fidelity"):
        if key in run:
            out[key] = run[key]
    return out


def sweep(setup: Setup, opts: Options, on_point=None) -> dict:
    """Every setting of ``settings_grid``; finished points survive a Ctrl-C (``interrupted``)."""
    reference = run_setting(setup, QuantSettings())
    n = len(setup.labels)
    correct = int((reference["pred"] == setup.labels).sum())
    result = {
        "checkpoint": setup.checkpoint,
        "dataset": setup.dataset,
        "image": list(setup.mcfg.circuit.image),
        "patch": list(setup.mcfg.circuit.patch),
        "test_samples": n,
        "calibration_images": opts.calibration,
        "samples": opts.samples,
        "seed": opts.seed,
        "reference": {
            "accuracy": correct / max(n, 1),
            "accuracy_ci95": list(wilson(correct, n)),
            "model_bytes": reference["model_bytes"],
        },
        "points": [],
        "interrupted": False,
    }
    if setup.noise is not None:
        result["noisy"] = {
            "target": opts.target,
            "noise_scale": setup.noise.scale,
            "trajectories": setup.noise.trajectories,
            "compiled": compiled_summary(setup.noise.compiled),
            "reference": None,
        }
    try:
        for part, bits, settings in tqdm(settings_grid(opts), desc="quantize", disable=None):
            result["points"].append(point(part, bits, settings, run_setting(setup, settings), reference, setup.labels))
            if on_point:
                on_point(result)
        if setup.noise is not None:
            noisy_sweep(setup, opts, result, reference, on_point)
    except KeyboardInterrupt:
        result["interrupted"] = True
    return result


def noisy_grid(opts: Options) -> list[tuple[str, int, QuantSettings]]:
    """(part, bits, setting) of the noisy angle rows: every angle mode and bits, classical layers in float."""
    base = QuantSettings(samples=opts.samples, seed=opts.seed)
    return [
        (f"noisy angles ({mode})", b, replace(base, angle_bits=b, angle_mode=mode))
        for mode in opts.angle_modes
        for b in opts.angle_bits
    ]


def noisy_sweep(setup: Setup, opts: Options, result: dict, reference: dict, on_point=None) -> None:
    """The noisy full-precision reference, then every noisy angle row; |S − S_full| against the
    noiseless full-precision S (``reference``). Every row draws its trajectories from the same
    seed, so rows that consume the same random numbers (the reference and the rounded ones) see
    the same noise draws and their differences are paired."""
    full = QuantSettings(samples=opts.samples, seed=opts.seed)
    run = run_setting(setup, full, noisy=True)
    result["noisy"]["reference"] = point("noisy full precision", None, full, run, reference, setup.labels)
    if on_point:
        on_point(result)
    for part, bits, settings in tqdm(noisy_grid(opts), desc=f"quantize {opts.target}", disable=None):
        run = run_setting(setup, settings, noisy=True)
        result["points"].append(point(part, bits, settings, run, reference, setup.labels))
        if on_point:
            on_point(result)


# -- reports ---------------------------------------------------------------------------------------
def markdown(result: dict) -> str:
    ref = result["reference"]
    lines = [
        f"# Post-training quantization: {result['dataset']} {result['image'][0]}x{result['image'][1]}, "
        f"patch {result['patch'][0]}x{result['patch'][1]}",
        "",
        f"{result['test_samples']} test images, {result['calibration_images']} calibration images, "
        f"{result['samples']} angle draws per image for interpolation. Full precision: "
        f"{100 * ref['accuracy']:.2f} % [{100 * ref['accuracy_ci95'][0]:.1f}, {100 * ref['accuracy_ci95'][1]:.1f}], "
        f"{ref['model_bytes']} bytes.",
        "",
        "| part | bits | setting | accuracy % [95 % CI] | agreement % | mean \\|S − S_full\\| | mean \\|A − A_full\\| "
        "| bytes | overhead (Πγ)² |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for p in result["points"]:
        if p["part"].startswith("W/A"):
            continue
        lo, hi = p["accuracy_ci95"]
        overhead = f"{p['sampling_overhead']:.3g}" if "sampling_overhead" in p else ""
        lines.append(
            f"| {p['part']} | {p['bits']} | {p['label']} | {100 * p['accuracy']:.2f} [{100 * lo:.1f}, {100 * hi:.1f}] "
            f"| {100 * p['agreement']:.1f} | {p['attention_score_error']:.2e} | {p['attention_prob_error']:.2e} "
            f"| {p['model_bytes']} | {overhead} |"
        )
    grid = [p for p in result["points"] if p["part"].startswith("W/A")]
    if grid:
        acts = sorted({p["settings"]["act_bits"] for p in grid}, reverse=True)
        weights = sorted({p["settings"]["weight_bits"] for p in grid}, reverse=True)
        cell = {(p["part"], p["settings"]["weight_bits"], p["settings"]["act_bits"]): p for p in grid}
        lines += [
            "",
            "Accuracy % by weight bits (rows) and activation bits (columns): uniform quantizers / "
            "with RepQ LayerNorm and log2 softmax.",
            "",
            "| W \\ A | " + " | ".join(f"A{a}" for a in acts) + " |",
            "|---|" + "---|" * len(acts),
        ]
        for w in weights:
            row = []
            for a in acts:
                u, r = cell.get(("W/A", w, a)), cell.get(("W/A + RepQ + log2", w, a))
                row.append(" / ".join(f"{100 * p['accuracy']:.2f}" if p else "–" for p in (u, r)))
            lines.append(f"| W{w} | " + " | ".join(row) + " |")
    lines += noisy_markdown(result)
    if result.get("interrupted"):
        lines += ["", "Interrupted: the points above are the finished ones."]
    return "\n".join(lines) + "\n"


def noisy_markdown(result: dict) -> list[str]:
    """The noisy rows next to the noiseless ones of the same angle setting."""
    noisy = result.get("noisy")
    if not noisy or noisy["reference"] is None:
        return []
    c = noisy["compiled"]
    lines = [
        "",
        f"Under {noisy['target']} noise (× {noisy['noise_scale']:g}), {noisy['trajectories']} trajectories per "
        f"image and head, classical layers in float; compiled: {c.get('two_qubit_gates', '?')} two-qubit gates, "
        f"{c.get('duration_ns', float('nan')) / 1e3:.1f} µs, ESP {c.get('esp', float('nan')):.3g}. "
        "|S − S_full| is against the noiseless full-precision S, ± its trajectory standard error.",
        "",
        "| angles | noiseless accuracy % | noiseless \\|S − S_full\\| | noisy accuracy % [95 % CI] "
        "| noisy \\|S − S_full\\| | noisy overhead (Πγ)² |",
        "|---|---|---|---|---|---|",
    ]
    noiseless = {(p["part"], p["bits"]): p for p in result["points"]}

    def cells(p: dict) -> str:
        lo, hi = p["accuracy_ci95"]
        se = p.get("attention_trajectory_se")
        err = f"{p['attention_score_error']:.2e}" + (f" ± {se:.1e}" if se is not None else "")
        overhead = f"{p['sampling_overhead']:.3g}" if "sampling_overhead" in p else ""
        return f"{100 * p['accuracy']:.2f} [{100 * lo:.1f}, {100 * hi:.1f}] | {err} | {overhead}"

    ref = result["reference"]
    lines.append(f"| full precision | {100 * ref['accuracy']:.2f} | 0 | {cells(noisy['reference'])} |")
    for p in result["points"]:
        if not p["part"].startswith("noisy angles"):
            continue
        mode = p["settings"]["angle_mode"]
        q = noiseless.get((f"angles ({mode})", p["bits"]))
        quiet = f"{100 * q['accuracy']:.2f} | {q['attention_score_error']:.2e}" if q else "– | –"
        lines.append(f"| {p['bits']} bits, {mode} | {quiet} | {cells(p)} |")
    return lines


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot(result: dict, path) -> None:
    """Accuracy against bits, one curve per part: classical parts left, angle parts right."""
    plt = _pyplot()
    points = [p for p in result["points"] if not p["part"].startswith("W/A")]
    diagonal = [p for p in result["points"] if p["part"].startswith("W/A")]
    diagonal = [p for p in diagonal if p["settings"]["weight_bits"] == p["settings"]["act_bits"]]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.4), sharey=True)
    ref = 100 * result["reference"]["accuracy"]
    for ax, angle_side in zip(axes, (False, True), strict=True):
        chosen = [p for p in points if ("angles" in p["part"]) == angle_side]
        if not angle_side:
            chosen += [{**p, "part": p["part"].replace("W/A", "W=A")} for p in diagonal]
        for k, part in enumerate(dict.fromkeys(p["part"] for p in chosen)):
            pts = sorted((p for p in chosen if p["part"] == part), key=lambda p: p["bits"])
            ax.plot(
                [p["bits"] for p in pts],
                [100 * p["accuracy"] for p in pts],
                marker="osD^vP*X"[k % 8],  # curves that coincide stay visible
                linestyle=("-", "--", ":", "-.")[k % 4],
                markersize=8 - k % 4,
                label=part,
            )
        ax.set_xticks(sorted({p["bits"] for p in chosen}))
        ax.axhline(ref, color="gray", linestyle="--", linewidth=1, label="full precision")
        noisy = result.get("noisy") or {}
        if angle_side and noisy.get("reference") is not None:
            ax.axhline(
                100 * noisy["reference"]["accuracy"],
                color="tab:red",
                linestyle=":",
                linewidth=1,
                label=f"full precision, {noisy['target']} noise",
            )
        ax.set_xlabel("rotation-angle bits (of 2π)" if angle_side else "bits (weights and/or activations)")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("test accuracy (%)")
    fig.suptitle(
        f"{result['dataset']} {result['image'][0]}x{result['image'][1]}: accuracy vs bits "
        f"({result['test_samples']} test images)",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def summary_lines(result: dict) -> list[str]:
    ref = result["reference"]
    lines = [f"full precision: accuracy {100 * ref['accuracy']:.2f} %, {ref['model_bytes']} bytes"]
    noisy = result.get("noisy") or {}
    if noisy.get("reference") is not None:
        r = noisy["reference"]
        lines.append(
            f"full precision under {noisy['target']} noise (x{noisy['noise_scale']:g}, {noisy['trajectories']} "
            f"trajectories): accuracy {100 * r['accuracy']:.2f} %, |dS| {r['attention_score_error']:.2e}"
        )
    for p in result["points"]:
        extra = f", overhead {p['sampling_overhead']:.3g}" if "sampling_overhead" in p else ""
        lines.append(
            f"{p['part']:>28} {p['label']:<32} accuracy {100 * p['accuracy']:6.2f} %, "
            f"|dS| {p['attention_score_error']:.2e}, |dA| {p['attention_prob_error']:.2e}, "
            f"{p['model_bytes']} bytes{extra}"
        )
    return lines


def save_deploy(setup: Setup, opts: Options, path: str) -> QuantSettings:
    """Write the quantized checkpoint of ``deploy_settings`` (``hqvit evaluate`` runs it)."""
    settings = deploy_settings(opts)
    try:
        save_quantized(setup.ckpt, setup.model, build_plan(setup.model, settings, setup.calibration), Path(path))
    except OSError as e:
        raise InputError(f"--save {path}: cannot write it ({e.strerror or e})") from None
    return settings


def check_paths(out: str, save: str | None) -> None:
    """``--out`` must be (or become) a directory and ``--save`` a file, checked before any work."""
    if Path(out).exists() and not Path(out).is_dir():
        raise InputError(f"--out {out} is an existing file; it must name a directory")
    if save is not None and (Path(save).is_dir() or not save.strip()):
        raise InputError(f"--save {save!r} must name the checkpoint file to write, not a directory")
