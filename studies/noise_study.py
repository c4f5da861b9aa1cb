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
from hqvit.runtime.checkpoint import load_checkpoint
from hqvit.runtime.model import ModelConfig, VisionTransformer, quantum_backends
from hqvit.runtime.noisy_attention import NoisyAttention
from hqvit.runtime.train import checkpoint_configs, prepare, restore_model, seed_everything
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


def validate_options(
    targets: list[str], trajectories: int, shots: int | None, scales: list[float] | None = None
) -> None:
    """The options of ``sweep`` and ``compare``, checked before a checkpoint is loaded; each message
    names the command-line argument, and the CLI repeats none of these checks."""
    if trajectories < 2:
        raise InputError(f"--trajectories must be >= 2, got {trajectories}")
    if shots is not None and shots < 1:
        raise InputError(f"--shots must be >= 1, got {shots}")
    if scales is not None and (not scales or not all(x >= 0 for x in scales)):  # all(x >= 0) is False for NaN
        raise InputError(f"--scales must be non-negative numbers, got {scales}")
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
def _predict(model: VisionTransformer, images: torch.Tensor, batch: int, desc: str) -> torch.Tensor:
    out = []
    for start in tqdm(range(0, len(images), batch), desc=desc, leave=False, disable=None):
        out.append(model(images[start : start + batch]).argmax(1))
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.long)


def evaluate_point(
    setup: StudySetup, compiled, scale: float, trajectories: int, shots: int | None, seed: int, batch: int = 16
) -> dict:
    """Accuracy and attention fidelity with every block's attention on the noisy compiled circuit."""
    model, cfg = setup.model, setup.mcfg.circuit
    blocks = quantum_backends(model)
    noisy = [NoisyAttention(cfg, compiled, scale, trajectories, shots, seed + 7 * k) for k in range(len(blocks))]
    originals = [m.qsim for m in _scores_modules(model)]
    t0 = time.perf_counter()
    try:
        for module, backend in zip(_scores_modules(model), noisy, strict=True):
            module.qsim = backend
        pred = _predict(model, setup.images, batch, f"scale {scale:g}")
        halves = []
        for half in ("a", "b"):
            for backend in noisy:
                backend.start_replay(half)
            halves.append(_predict(model, setup.images, batch, f"scale {scale:g} half {half}"))
            for backend in noisy:
                backend.stop_replay()
    finally:
        for module, backend in zip(_scores_modules(model), originals, strict=True):
            module.qsim = backend
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
    return point


def _scores_modules(model: VisionTransformer) -> list:
    return [b.scores for b in model.blocks if getattr(b.scores, "qsim", None) is not None]


def compiled_summary(compiled) -> dict:
    report = compiled.report()
    keys = ("target", "two_qubit_gates", "depth", "duration_ns", "esp", "fidelity_estimate", "physical_qubits")
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
) -> dict:
    validate_options([target_name], trajectories, shots, scales)
    target = resolve_target(target_name)
    compiled = compile_hqvit(setup.mcfg.circuit, target, opt=opt, seed=seed)
    result = {
        "checkpoint": setup.checkpoint,
        "target": target_name,
        "trajectories": trajectories,
        "shots": shots,
        "seed": seed,
        "compiled": compiled_summary(compiled),
        "points": [],
        "interrupted": False,
    }
    try:
        for scale in tqdm(scales, desc=f"noise sweep {target_name}", disable=None):
            result["points"].append(evaluate_point(setup, compiled, scale, trajectories, shots, seed))
            if on_point:
                on_point(result)
    except KeyboardInterrupt:
        result["interrupted"] = True
    return result


def compare(
    setup: StudySetup, target_names: list[str], trajectories: int, shots: int | None, seed: int, opt: int, on_point=None
) -> dict:
    validate_options(target_names, trajectories, shots)
    result = {
        "checkpoint": setup.checkpoint,
        "trajectories": trajectories,
        "shots": shots,
        "seed": seed,
        "targets": [],
        "interrupted": False,
    }
    try:
        for name in tqdm(target_names, desc="noise compare", disable=None):
            compiled = compile_hqvit(setup.mcfg.circuit, resolve_target(name), opt=opt, seed=seed)
            point = evaluate_point(setup, compiled, 1.0, trajectories, shots, seed)
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


def plot_sweep(result: dict, path) -> None:
    plt = _pyplot()
    pts = result["points"]
    if not pts:
        return
    x = [p["scale"] for p in pts]
    fig, ax = plt.subplots(figsize=(6.5, 4))
    acc = [100 * p["accuracy"] for p in pts]
    lo = [100 * (p["accuracy"] - p["accuracy_ci95"][0]) for p in pts]
    hi = [100 * (p["accuracy_ci95"][1] - p["accuracy"]) for p in pts]
    ax.errorbar(x, acc, yerr=[lo, hi], marker="o", color="tab:blue", capsize=3, label="test accuracy (95 % CI)")
    ax.set_xlabel("noise scale (× calibrated)")
    ax.set_ylabel("test accuracy (%)", color="tab:blue")
    ax2 = ax.twinx()
    err = [p["attention_abs_error"] for p in pts]
    ci = [p.get("attention_abs_error_ci95") or 0 for p in pts]
    ax2.errorbar(x, err, yerr=ci, marker="s", color="tab:red", capsize=3, label="mean |S_noisy − S|")
    ax2.set_ylabel("attention error mean |S_noisy − S|", color="tab:red")
    c = result.get("compiled", {})
    ax.set_title(
        f"{result['target']}: {c.get('two_qubit_gates', '?')} 2q gates, ESP {c.get('esp', float('nan')):.2g}, "
        f"{result['trajectories']} trajectories",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_compare(result: dict, path) -> None:
    plt = _pyplot()
    rows = result["targets"]
    if not rows:
        return
    names = [r["target"] for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.8))
    acc = [100 * r["accuracy"] for r in rows]
    yerr = [
        [100 * (r["accuracy"] - r["accuracy_ci95"][0]) for r in rows],
        [100 * (r["accuracy_ci95"][1] - r["accuracy"]) for r in rows],
    ]
    axes[0].bar(names, acc, yerr=yerr, capsize=3)
    axes[0].set_ylim(max(0.0, min(acc) - 10), 100)  # the differences are a few points: do not start at 0
    axes[0].set_title("test accuracy (%) at calibrated noise", fontsize=9)
    axes[1].bar(names, [r["attention_abs_error"] for r in rows], color="tab:red")
    axes[1].set_title("attention error mean |S_noisy − S|", fontsize=9)
    axes[2].bar(names, [r.get("esp", 0) for r in rows], color="tab:green")
    axes[2].set_yscale("log")
    axes[2].set_title("ESP of the compiled circuit", fontsize=9)
    for ax in axes:
        ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
