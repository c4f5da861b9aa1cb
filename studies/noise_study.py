"""Noise studies of a trained checkpoint: accuracy and attention fidelity versus device noise.

``sweep``: one target, the calibrated noise multiplied by each scale. ``compare``: several
targets at calibrated noise, with each compiled circuit's two-qubit count, duration and ESP.
Each point evaluates the checkpoint's test split with every block's attention replaced by
``NoisyAttention`` on the circuit compiled for the target, and reports:

- test accuracy with a 95 % Wilson interval over the test images, and the trajectory (Monte
  Carlo) uncertainty: the model is re-run with S from each half of the trajectories, and the
  spread of those two accuracies (and the fraction of predictions that differ) says how much
  the finite number of trajectories moves the figure;
- attention error: mean |S_noisy - S_noiseless| over valid token pairs, with a 95 % interval
  over images, and its trajectory standard error (RMS difference of the halves / 2);
- distribution fidelity: mean classical fidelity (sum sqrt(p q))^2 of the measured distribution.

With ``dd`` modes (``--dd auto``, ``--dd xy4,auto``) each point is also evaluated on the circuit
compiled with that dynamical decoupling (``passes/dynamical_decoupling.py``; the same compile
plus the DD gates), with the same images, model and trajectory seeds, and ``point["dd"][mode]``
holds its figures and its gain over no DD (``dd_gain``). DD chooses its windows for the
calibrated noise (scale 1); other scales run the same circuit. A mode that inserts no gate (no
coherent idle noise to refocus, e.g. ions, or ``auto`` finding no gain) leaves the circuit as it
was: the no-DD evaluation is reused, marked ``same_circuit``.

Under ``torchrun`` each rank evaluates a contiguous part of the images of every point (whole
batches), with each image's own trajectory seed, and the per-image results are gathered in
image order (``studies.noise_ranks``): every figure is the one a single process computes, bit for
bit; the caller writes the files on rank 0. Each process runs ``study_threads`` threads (torch and
numpy's BLAS alike): one at 16 qubits, alone or as one of two ranks on two cores, so one process
does not spin a second BLAS thread that the other rank would need.

Points finished before a Ctrl-C are kept: the caller writes them and exits 130.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from hqvit.compiler.pipeline import compile_hqvit
from hqvit.ir.errors import InputError
from hqvit.passes.dynamical_decoupling import MODES as DD_MODES
from hqvit.runtime.checkpoint import load_checkpoint
from hqvit.runtime.distributed import SINGLE, Ranks, rank_threads, requested_threads, shard, thread_limit
from hqvit.runtime.model import ModelConfig, VisionTransformer, quantum_backends
from hqvit.runtime.noisy_attention import NoisyAttention
from hqvit.runtime.train import checkpoint_configs, prepare, restore_model, seed_everything
from hqvit.studies.noise_ranks import gather_cat, install_streams, merge_records
from hqvit.targets import resolve_target


@dataclass
class StudySetup:
    model: VisionTransformer
    mcfg: ModelConfig
    images: torch.Tensor
    labels: torch.Tensor
    checkpoint: str


def load_study(checkpoint: str, limit: int | None) -> StudySetup:
    ckpt = load_checkpoint(checkpoint)
    cfg, mcfg = checkpoint_configs(ckpt, checkpoint)
    if mcfg.attention != "quantum":
        raise InputError(f"checkpoint {checkpoint} has classical attention: there is no circuit to add noise to")
    seed_everything(cfg.seed)
    ds, _, te = prepare(cfg)
    if limit is not None:
        if limit < 1:
            raise InputError(f"--limit must be >= 1, got {limit}")
        te = te[:limit]
    model = restore_model(ckpt, mcfg, checkpoint, backend="qsim", seed=cfg.seed)
    model.eval()
    return StudySetup(model, mcfg, ds.images[te], ds.labels[te], str(checkpoint))


def parse_dd(text: str | None) -> list[str]:
    """``--dd`` as given ("auto", "xy4,auto", "none"): the DD modes to compare with no DD, in the
    order given, without "none" (no DD is always the baseline) and without repeats."""
    if text is None:
        return []
    items = [x.strip() for x in text.split(",") if x.strip()]
    if not items or any(x not in DD_MODES for x in items):
        raise InputError(f"--dd must be comma-separated modes out of {', '.join(DD_MODES)}, got {text!r}")
    return [x for i, x in enumerate(items) if x != "none" and x not in items[:i]]


def validate_options(
    targets: list[str],
    trajectories: int,
    shots: int | None,
    scales: list[float] | None = None,
    dd: list[str] = (),
) -> None:
    """The options of ``sweep`` and ``compare``, checked before a checkpoint is loaded; each message
    names the command-line argument, and the CLI repeats none of these checks."""
    if trajectories < 2:
        raise InputError(f"--trajectories must be >= 2, got {trajectories}")
    if shots is not None and shots < 1:
        raise InputError(f"--shots must be >= 1, got {shots}")
    if scales is not None and (not scales or not all(x >= 0 for x in scales)):  # all(x >= 0) is False for NaN
        raise InputError(f"--scales must be non-negative numbers, got {scales}")
    if any(m not in DD_MODES or m == "none" for m in dd):
        raise InputError(f"--dd must be modes out of {', '.join(DD_MODES[1:])} besides none, got {list(dd)}")
    if not targets:
        raise InputError("--targets needs at least one target name")
    for name in targets:
        resolve_target(name)  # a bad name fails before any data is loaded


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return 0.0, 1.0
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return max(0.0, c - h), min(1.0, c + h)


@torch.no_grad()
def _logits(model: VisionTransformer, images: torch.Tensor, batch: int, desc: str, bar: bool = True) -> torch.Tensor:
    out = []
    for start in tqdm(range(0, len(images), batch), desc=desc, leave=False, disable=None if bar else True):
        out.append(model(images[start : start + batch]))
    return torch.cat(out) if out else torch.zeros((0, model.head.out_features))


def _predict(model: VisionTransformer, images: torch.Tensor, batch: int, desc: str, bar: bool = True) -> torch.Tensor:
    return _logits(model, images, batch, desc, bar).argmax(1)


def evaluate_point(
    setup: StudySetup,
    compiled,
    scale: float,
    trajectories: int,
    shots: int | None,
    seed: int,
    batch: int = 16,
    raw: dict | None = None,
    ranks: Ranks = SINGLE,
) -> dict:
    """Accuracy and attention fidelity with every block's attention on the noisy compiled circuit.
    ``raw``, if given, receives the logits, predictions and the per-(image, head) attention errors
    and fidelities, in evaluation order (what ``dd_gain`` pairs).

    Image i's trajectories come from the i-th seed of its backend's generator and its shots from
    a generator of its own (``noise_ranks.ImageStreams``), so with ``ranks`` each rank evaluates
    its whole batches of the images (``shard``) and the gathered figures are the single-process
    ones, whatever the number of ranks."""
    model, cfg = setup.model, setup.mcfg.circuit
    blocks = quantum_backends(model)
    noisy = [NoisyAttention(cfg, compiled, scale, trajectories, shots, seed + 7 * k) for k in range(len(blocks))]
    first, end = shard(len(setup.labels), ranks, batch)
    install_streams(noisy, first)
    images = setup.images[first:end]
    originals = [m.qsim for m in _scores_modules(model)]
    t0 = time.perf_counter()
    try:
        for module, backend in zip(_scores_modules(model), noisy, strict=True):
            module.qsim = backend
        logits = _logits(model, images, batch, f"scale {scale:g}", ranks.main)
        halves = []
        for half in ("a", "b"):
            for backend in noisy:
                backend.start_replay(half)
            halves.append(_predict(model, images, batch, f"scale {scale:g} half {half}", ranks.main))
            for backend in noisy:
                backend.stop_replay()
    finally:
        for module, backend in zip(_scores_modules(model), originals, strict=True):
            module.qsim = backend
    logits, halves = gather_cat(ranks, logits), [gather_cat(ranks, h) for h in halves]
    merge_records(ranks, noisy)
    pred = logits.argmax(1)
    n = len(setup.labels)
    correct = int((pred == setup.labels).sum())
    lo, hi = wilson(correct, n)
    point = {
        "scale": scale,
        "test_samples": n,
        "accuracy": correct / max(n, 1),
        "accuracy_ci95": [lo, hi],
        "seconds": round(time.perf_counter() - t0, 3),
    }
    acc_halves = [float((h == setup.labels).float().mean()) for h in halves]
    point["accuracy_halves"] = acc_halves
    point["trajectory_accuracy_spread"] = abs(acc_halves[0] - acc_halves[1])
    point["trajectory_prediction_flips"] = float((halves[0] != halves[1]).float().mean())
    errors = np.array([e for b in noisy for e in b.record.abs_error])
    fids = np.array([f for b in noisy for f in b.record.fidelity])
    half_rms = np.array([r for b in noisy for r in b.record.half_difference_rms])
    point["attention_abs_error"] = float(errors.mean()) if len(errors) else None
    point["attention_abs_error_ci95"] = (
        float(1.96 * errors.std(ddof=1) / math.sqrt(len(errors))) if len(errors) > 1 else None
    )
    point["attention_trajectory_se"] = float(np.sqrt(np.mean(half_rms**2)) / 2) if len(half_rms) else None
    point["distribution_fidelity"] = float(fids.mean()) if len(fids) else None
    point["seconds_per_image"] = round(point["seconds"] / max(n, 1), 4)
    if raw is not None:
        raw.update(logits=logits, pred=pred, abs_error=errors, fidelity=fids)
    return point


def _ci95(x: np.ndarray) -> float | None:
    return float(1.96 * x.std(ddof=1) / math.sqrt(len(x))) if len(x) > 1 else None


def dd_gain(base: dict, base_raw: dict, point: dict, raw: dict) -> dict:
    """The gain of a DD evaluation over the no-DD one of the same point.

    Paired: both ran the same model on the same images, heads and trajectory seeds, in the same
    order, so the per-(image, head) differences cancel what the images have in common and their
    spread (which includes the trajectory error) gives the 95 % intervals. The fidelity ratio is
    mean(F_dd) / mean(F_none); its interval is the delta-method one of a ratio of paired means,
    from the spread of F_dd - R F_none."""
    f0, f1 = base_raw["fidelity"], raw["fidelity"]
    e0, e1 = base_raw["abs_error"], raw["abs_error"]
    out: dict = {
        "accuracy_change": point["accuracy"] - base["accuracy"],
        "prediction_changes": float((raw["pred"] != base_raw["pred"]).float().mean()) if len(raw["pred"]) else 0.0,
        "fidelity_ratio": None,
        "fidelity_ratio_ci95": None,
        "fidelity_change": None,
        "fidelity_change_ci95": None,
        "attention_error_change": None,
        "attention_error_change_ci95": None,
    }
    if len(f0) and len(f0) == len(f1):
        ratio = float(f1.mean() / f0.mean()) if f0.mean() > 0 else None
        ci = _ci95(f1 - ratio * f0) if ratio is not None else None
        out.update(
            fidelity_ratio=ratio,
            fidelity_ratio_ci95=ci / float(f0.mean()) if ci is not None else None,
            fidelity_change=float((f1 - f0).mean()),
            fidelity_change_ci95=_ci95(f1 - f0),
        )
    if len(e0) and len(e0) == len(e1):
        out.update(attention_error_change=float((e1 - e0).mean()), attention_error_change_ci95=_ci95(e1 - e0))
    return out


def evaluate_with_dd(
    setup: StudySetup,
    compiled,
    variants: dict,
    scale: float,
    trajectories: int,
    shots: int | None,
    seed: int,
    ranks: Ranks = SINGLE,
) -> dict:
    """``evaluate_point`` on ``compiled`` and, under ``point["dd"][mode]``, on each DD variant
    (mode -> compiled circuit with that DD) with its gain over no DD."""
    raw: dict = {}
    point = evaluate_point(setup, compiled, scale, trajectories, shots, seed, raw=raw, ranks=ranks)
    if not variants:
        return point
    point["dd"] = {}
    for mode, variant in variants.items():
        if not (variant.dd or {}).get("gates"):
            # nothing inserted: the very circuit just evaluated, with the same seeds
            other, other_raw = {k: v for k, v in point.items() if k != "dd"}, raw
            other["same_circuit"] = True
        else:
            other_raw = {}
            other = evaluate_point(setup, variant, scale, trajectories, shots, seed, raw=other_raw, ranks=ranks)
            other["same_circuit"] = False
        other["gain"] = dd_gain(point, raw, other, other_raw)
        point["dd"][mode] = other
    return point


def study_threads(setup: StudySetup, ranks: Ranks = SINGLE) -> int:
    """Threads of a study's process: ``OMP_NUM_THREADS`` if set, else the thread rule of
    ``runtime.threads`` on this rank's share of the cores (one thread up to 16 qubits)."""
    return rank_threads(setup.mcfg.circuit.logical_qubits, ranks, requested_threads())


def compile_variants(circuit_cfg, target, opt: int, seed: int, dd: list[str]) -> dict:
    """Mode -> the circuit compiled with that DD (the same compile as without: the pass runs
    after the preset has chosen its compile)."""
    return {mode: compile_hqvit(circuit_cfg, target, opt=opt, seed=seed, dd=mode) for mode in dd}


def _scores_modules(model: VisionTransformer) -> list:
    return [b.scores for b in model.blocks if getattr(b.scores, "qsim", None) is not None]


def compiled_summary(compiled) -> dict:
    report = compiled.report()
    keys = ("target", "two_qubit_gates", "depth", "duration_ns", "esp", "fidelity_estimate", "physical_qubits", "dd")
    return {k: report[k] for k in keys if k in report}


def sweep(
    setup: StudySetup,
    target_name: str,
    scales: list[float],
    trajectories: int,
    shots: int | None,
    seed: int,
    opt: int,
    on_point=None,
    dd: list[str] = (),
    ranks: Ranks = SINGLE,
) -> dict:
    """Every scale's point on ``target_name``; ``on_point`` after each (rank 0 passes the writer)."""
    validate_options([target_name], trajectories, shots, scales, dd)
    threads = study_threads(setup, ranks)
    with thread_limit(threads):
        return _sweep(setup, target_name, scales, trajectories, shots, seed, opt, on_point, list(dd), ranks, threads)


def _sweep(
    setup: StudySetup,
    target_name: str,
    scales: list[float],
    trajectories: int,
    shots: int | None,
    seed: int,
    opt: int,
    on_point,
    dd: list[str],
    ranks: Ranks,
    threads: int,
) -> dict:
    target = resolve_target(target_name)
    compiled = compile_hqvit(setup.mcfg.circuit, target, opt=opt, seed=seed)
    variants = compile_variants(setup.mcfg.circuit, target, opt, seed, list(dd))
    result = {
        "checkpoint": setup.checkpoint,
        "target": target_name,
        "trajectories": trajectories,
        "shots": shots,
        "seed": seed,
        "dd": list(dd),
        "compiled": compiled_summary(compiled),
        "compiled_dd": {mode: compiled_summary(c) for mode, c in variants.items()},
        "threads": threads,
        "points": [],
        "interrupted": False,
    }
    try:
        for scale in tqdm(scales, desc=f"noise sweep {target_name}", disable=None if ranks.main else True):
            point = evaluate_with_dd(setup, compiled, variants, scale, trajectories, shots, seed, ranks)
            result["points"].append(point)
            if on_point:
                on_point(result)
    except KeyboardInterrupt:
        result["interrupted"] = True
    return result


def compare(
    setup: StudySetup,
    target_names: list[str],
    trajectories: int,
    shots: int | None,
    seed: int,
    opt: int,
    on_point=None,
    dd: list[str] = (),
    ranks: Ranks = SINGLE,
) -> dict:
    """Each target at calibrated noise; ``on_point`` after each (rank 0 passes the writer)."""
    validate_options(target_names, trajectories, shots, dd=dd)
    threads = study_threads(setup, ranks)
    with thread_limit(threads):
        return _compare(setup, target_names, trajectories, shots, seed, opt, on_point, list(dd), ranks, threads)


def _compare(
    setup: StudySetup,
    target_names: list[str],
    trajectories: int,
    shots: int | None,
    seed: int,
    opt: int,
    on_point,
    dd: list[str],
    ranks: Ranks,
    threads: int,
) -> dict:
    result = {
        "checkpoint": setup.checkpoint,
        "trajectories": trajectories,
        "shots": shots,
        "seed": seed,
        "dd": list(dd),
        "threads": threads,
        "targets": [],
        "interrupted": False,
    }
    try:
        for name in tqdm(target_names, desc="noise compare", disable=None if ranks.main else True):
            target = resolve_target(name)
            compiled = compile_hqvit(setup.mcfg.circuit, target, opt=opt, seed=seed)
            variants = compile_variants(setup.mcfg.circuit, target, opt, seed, list(dd))
            point = evaluate_with_dd(setup, compiled, variants, 1.0, trajectories, shots, seed, ranks)
            for mode, variant in variants.items():
                extra = compiled_summary(variant)
                extra.pop("target")
                point["dd"][mode].update(extra)
            summary = compiled_summary(compiled)
            summary["device"] = summary.pop("target")  # the device's own name; "target" is what was asked for
            result["targets"].append({**summary, **point, "target": name})
            if on_point:
                on_point(result)
    except KeyboardInterrupt:
        result["interrupted"] = True
    return result


def _pyplot():
    """matplotlib's pyplot on the file-only Agg backend (no display on a server)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


DD_STYLE = {"xx": "^", "xy4": "D", "staggered": "v", "auto": "*"}  # marker per DD mode


def _dd_rows(rows: list[dict], mode: str) -> list[dict]:
    return [r["dd"][mode] for r in rows]


def plot_sweep(result: dict, path) -> None:
    """Accuracy and attention error against the scale (DD modes dashed, same colours); with DD
    a second panel: each mode's distribution-fidelity ratio over no DD with its 95 % interval."""
    plt = _pyplot()
    pts = result["points"]
    if not pts:
        return
    modes = result.get("dd", [])
    x = [p["scale"] for p in pts]
    fig, axes = plt.subplots(1, 2 if modes else 1, figsize=(11.5 if modes else 6.5, 4), squeeze=False)
    ax = axes[0][0]
    ax2 = ax.twinx()
    for label, rows, style, marker in [("", pts, "-", None)] + [
        (f" dd {m}", _dd_rows(pts, m), "--", DD_STYLE[m]) for m in modes
    ]:
        acc = [100 * p["accuracy"] for p in rows]
        lo = [100 * (p["accuracy"] - p["accuracy_ci95"][0]) for p in rows]
        hi = [100 * (p["accuracy_ci95"][1] - p["accuracy"]) for p in rows]
        ax.errorbar(
            x, acc, yerr=[lo, hi], marker=marker or "o", ls=style, color="tab:blue", capsize=3, label=f"accuracy{label}"
        )
        err = [p["attention_abs_error"] for p in rows]
        ci = [p.get("attention_abs_error_ci95") or 0 for p in rows]
        ax2.errorbar(x, err, yerr=ci, marker=marker or "s", ls=style, color="tab:red", capsize=3, label=f"|dS|{label}")
    ax.set_xlabel("noise scale (× calibrated)")
    ax.set_ylabel("test accuracy (%, 95 % CI)", color="tab:blue")
    ax2.set_ylabel("attention error mean |S_noisy − S|", color="tab:red")
    if modes:
        h1, l1 = ax.get_legend_handles_labels()
        h2, l2 = ax2.get_legend_handles_labels()
        ax.legend(h1 + h2, l1 + l2, fontsize=7, loc="center left")
    c = result.get("compiled", {})
    ax.set_title(
        f"{result['target']}: {c.get('two_qubit_gates', '?')} 2q gates, ESP {c.get('esp', float('nan')):.2g}, "
        f"{result['trajectories']} trajectories",
        fontsize=9,
    )
    if modes:
        axr = axes[0][1]
        for m in modes:
            gains = [p["gain"] for p in _dd_rows(pts, m)]
            ratio = [g["fidelity_ratio"] if g["fidelity_ratio"] is not None else float("nan") for g in gains]
            ci = [g["fidelity_ratio_ci95"] or 0 for g in gains]
            axr.errorbar(x, ratio, yerr=ci, marker=DD_STYLE[m], capsize=3, label=f"dd {m}")
        axr.axhline(1.0, color="grey", lw=0.8)
        axr.set_xlabel("noise scale (× calibrated)")
        axr.set_ylabel("distribution fidelity, DD / no DD")
        axr.set_title("DD gain per point (95 % CI, paired over images and heads)", fontsize=9)
        axr.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _grouped_bars(
    ax, names: list[str], series: list[tuple[str, list[float], list | None]], first_colour: int = 0
) -> None:
    """Bars per target, one per series (no DD, then each DD mode), side by side; series k has
    colour C(first_colour + k), so a mode keeps its colour in every panel."""
    width = 0.8 / len(series)
    for k, (label, values, err) in enumerate(series):
        pos = [i + (k - (len(series) - 1) / 2) * width for i in range(len(names))]
        ax.bar(pos, values, width, yerr=err, capsize=2, label=label, color=f"C{first_colour + k}")
    ax.set_xticks(range(len(names)), names)


def plot_compare(result: dict, path) -> None:
    """Per target: accuracy, attention error, ESP; with DD each as no DD beside every mode, and
    a fourth panel with each mode's distribution-fidelity ratio over no DD (95 % interval)."""
    plt = _pyplot()
    rows = result["targets"]
    if not rows:
        return
    modes = result.get("dd", [])
    names = [r["target"] for r in rows]
    groups = [("no DD", rows)] + [(f"dd {m}", _dd_rows(rows, m)) for m in modes]
    fig, axes = plt.subplots(1, 4 if modes else 3, figsize=(15 if modes else 11, 3.8))

    def acc_err(rs):
        return [
            [100 * (r["accuracy"] - r["accuracy_ci95"][0]) for r in rs],
            [100 * (r["accuracy_ci95"][1] - r["accuracy"]) for r in rs],
        ]

    _grouped_bars(axes[0], names, [(g, [100 * r["accuracy"] for r in rs], acc_err(rs)) for g, rs in groups])
    lowest = min(100 * r["accuracy"] for _, rs in groups for r in rs)
    axes[0].set_ylim(max(0.0, lowest - 10), 100)  # the differences are a few points: do not start at 0
    axes[0].set_title("test accuracy (%) at calibrated noise", fontsize=9)
    _grouped_bars(axes[1], names, [(g, [r["attention_abs_error"] for r in rs], None) for g, rs in groups])
    axes[1].set_title("attention error mean |S_noisy − S|", fontsize=9)
    _grouped_bars(axes[2], names, [(g, [r.get("esp", 0) for r in rs], None) for g, rs in groups])
    axes[2].set_yscale("log")
    axes[2].set_title("ESP of the compiled circuit", fontsize=9)
    if modes:
        series = []
        for m in modes:
            gains = [r["gain"] for r in _dd_rows(rows, m)]
            ratio = [g["fidelity_ratio"] if g["fidelity_ratio"] is not None else float("nan") for g in gains]
            series.append((f"dd {m}", ratio, [g["fidelity_ratio_ci95"] or 0 for g in gains]))
        _grouped_bars(axes[3], names, series, first_colour=1)
        ends = [v + sign * e for _, vs, es in series for v, e in zip(vs, es, strict=True) for sign in (-1, 1)]
        ends = [x for x in ends if math.isfinite(x)] + [1.0]
        axes[3].set_ylim(min(ends) - 0.02, max(ends) + 0.02)  # gains are percents: zoom on them
        axes[3].axhline(1.0, color="grey", lw=0.8)
        axes[3].set_title("DD gain: distribution fidelity / no DD (95 % CI)", fontsize=9)
        axes[0].legend(fontsize=7)
    for ax in axes:
        ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
