"""Ablations of the attention: what the quantum scores buy, with everything else held equal.

Each variant (``quantum``, ``classical``, ``uniform``: every score equal, ``frozen``: the circuit
with U_Q, U_K at their random initial angles) is trained with the same command, data split,
budget and seeds; only ``--attention`` differs. Each trained quantum model is then also evaluated
at calibrated noise on the requested targets (the noise-compare evaluation of
``noise_study``). Per variant: test accuracy mean ± sample standard deviation over the seeds,
validation accuracy when ``--val`` is given, the parameter counts, and the per-seed figures.
With ``device_shots``, also the device time one training epoch and one test-set evaluation of the
quantum model would take on each device target at that many shots (``studies/device_time.py``).
Every finished run is written at once (JSON, Markdown, PNG), so an interrupted study keeps them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from hqvit.ir.errors import InputError
from hqvit.runtime.distributed import SINGLE, Ranks
from hqvit.runtime.model import ATTENTIONS
from hqvit.runtime.train import TrainConfig, sharded_accuracy, train
from hqvit.studies.device_time import Workload, check_inputs, duration_text, estimate
from hqvit.targets import resolve_target


@dataclass
class AblationConfig:
    base: TrainConfig  # the shared training command; attention, seed and out are set per run
    attentions: tuple[str, ...] = ATTENTIONS
    seeds: tuple[int, ...] = (0, 1, 2)
    noisy_targets: tuple[str, ...] = ()
    trajectories: int = 16
    noisy_limit: int | None = None  # test images per noisy evaluation (default: the whole test split)
    device_shots: int | None = None  # shots per circuit execution of the device-time estimate (None: none)
    device_targets: tuple[str, ...] = ()  # where to estimate it (empty: the noisy targets)
    out: str = "runs/ablation"

    def validate(self) -> None:
        if not self.attentions or any(a not in ATTENTIONS for a in self.attentions):
            raise InputError(f"--attentions must be among {', '.join(ATTENTIONS)}, got {', '.join(self.attentions)}")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise InputError(f"--seeds must be distinct, got {self.seeds}")
        if self.trajectories < 2:
            raise InputError(f"--trajectories must be >= 2, got {self.trajectories}")
        if self.noisy_limit is not None and self.noisy_limit < 1:
            raise InputError(f"--noisy-limit must be >= 1, got {self.noisy_limit}")
        if self.noisy_targets and "quantum" not in self.attentions:
            raise InputError("--noisy-targets evaluates the trained quantum models: include quantum in --attentions")
        for name in self.noisy_targets:
            resolve_target(name)
        if self.device_shots is not None:
            if not self.estimate_targets:
                raise InputError("--device-shots needs --device-targets (or --noisy-targets) to estimate on")
            if not set(self.attentions) & {"quantum", "frozen"}:
                raise InputError("--device-shots estimates the circuit's device time: include quantum in --attentions")
            for name in self.estimate_targets:
                check_inputs(resolve_target(name), self.device_shots, self.base.blocks, "--device-shots")
        elif self.device_targets:
            raise InputError("--device-targets needs --device-shots N (shots per circuit execution)")
        for seed in self.seeds:
            replace(self.base, seed=seed).validate()
        for attention in self.attentions:
            replace(self.base, attention=attention).validate()

    @property
    def estimate_targets(self) -> tuple[str, ...]:
        return self.device_targets or self.noisy_targets


def mean_std(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def run_ablation(cfg: AblationConfig, log=print, on_update=None, ranks: Ranks = SINGLE) -> dict:
    """Train every variant with every seed, then evaluate the quantum ones under noise.

    Under ``torchrun`` (``ranks``) each training run is split across the ranks as ``hqvit train``
    splits it (the same global batches), and each noisy row's test images are split as
    ``noise-compare`` splits them (whole batches, each image's own trajectory seed, gathered in
    image order); every rank returns the gathered result and the caller writes it on rank 0."""
    cfg.validate()
    out = Path(cfg.out)
    result: dict = {
        "config": _describe(cfg),
        "runs": [],
        "noisy": [],
        "summary": [],
        "device_time": [],
        "interrupted": False,
    }
    try:
        for attention in cfg.attentions:
            for seed in cfg.seeds:
                run_dir = out / f"{attention}-seed{seed}"
                tc = replace(cfg.base, attention=attention, seed=seed, out=str(run_dir))
                log(f"training {attention}, seed {seed} -> {run_dir}")
                r = train(tc, log=log)
                if r["interrupted"]:
                    raise KeyboardInterrupt
                result["runs"].append(
                    {
                        "attention": attention,
                        "seed": seed,
                        "test_accuracy": r["test_accuracy"],
                        "val_accuracy": r.get("val_accuracy"),
                        "train_accuracy": r["train_accuracy"],
                        "parameters": r["parameters"],
                        "train_samples_per_s": r["train_samples_per_s"],
                        "checkpoint": r["checkpoint"],
                        "train_images": r["train_samples"],
                        "test_images": r["test_samples"],
                    }
                )
                result["summary"] = summarize(result)
                if on_update:
                    on_update(result)
        # a barrier: rank 0 has written every checkpoint before any rank loads one for the noisy
        # rows (several machines need --out on a shared file system for those)
        ranks.agree(None)
        for target in cfg.noisy_targets:
            for run in [r for r in result["runs"] if r["attention"] == "quantum"]:
                log(f"evaluating quantum seed {run['seed']} at calibrated noise on {target}")
                result["noisy"].append(_noisy_point(run, target, cfg, ranks))
                result["summary"] = summarize(result)
                if on_update:
                    on_update(result)
        if cfg.device_shots is not None:
            for target in cfg.estimate_targets:
                log(f"device time on {target} at {cfg.device_shots} shots")
                result["device_time"].append(_device_time(result["runs"], target, cfg))
                if on_update:
                    on_update(result)
    except KeyboardInterrupt:
        result["interrupted"] = True
    result["summary"] = summarize(result)
    return result


def _device_time(runs: list[dict], target: str, cfg: AblationConfig) -> dict:
    """The estimate for the trained models' circuit (compiled as the noisy rows are, --opt 2) and
    their split sizes (the training split after the --val hold-out)."""
    from hqvit.compiler.pipeline import compile_hqvit

    run = next(r for r in runs if r["attention"] in ("quantum", "frozen"))  # quantum first if trained
    circuit = cfg.base.model_config(10).circuit
    compiled = compile_hqvit(circuit, resolve_target(target), opt=2, seed=run["seed"])
    workload = Workload(run["train_images"], run["test_images"], cfg.base.blocks, run["attention"])
    return estimate(compiled, workload, cfg.device_shots)


def _noisy_point(run: dict, target: str, cfg: AblationConfig, ranks: Ranks = SINGLE) -> dict:
    from hqvit.studies.noise_study import compare, load_study  # qsim trajectories

    setup = load_study(run["checkpoint"], cfg.noisy_limit)
    # the same test images without noise, so a --noisy-limit subset is compared with itself
    noiseless = sharded_accuracy(setup.model, setup.images, setup.labels, ranks, "eval")
    point = compare(setup, [target], cfg.trajectories, None, run["seed"], opt=2, ranks=ranks)["targets"][0]
    keep = ("accuracy", "accuracy_ci95", "attention_abs_error", "esp", "two_qubit_gates", "test_samples")
    return {"target": target, "seed": run["seed"], "noiseless_accuracy": noiseless, **{k: point.get(k) for k in keep}}


def summarize(result: dict) -> list[dict]:
    rows = []
    for attention in dict.fromkeys(r["attention"] for r in result["runs"]):
        runs = [r for r in result["runs"] if r["attention"] == attention]
        test_mean, test_std = mean_std([r["test_accuracy"] for r in runs])
        val = [r["val_accuracy"] for r in runs if r["val_accuracy"] is not None]
        val_mean, val_std = mean_std(val)
        rows.append(
            {
                "variant": attention,
                "seeds": len(runs),
                "test_accuracy_mean": test_mean,
                "test_accuracy_std": test_std,
                "val_accuracy_mean": val_mean,
                "val_accuracy_std": val_std,
                "parameters": runs[0]["parameters"],
            }
        )
    for target in dict.fromkeys(p["target"] for p in result["noisy"]):
        points = [p for p in result["noisy"] if p["target"] == target]
        mean, std = mean_std([p["accuracy"] for p in points])
        noiseless, _ = mean_std([p["noiseless_accuracy"] for p in points])
        quantum = next((r for r in rows if r["variant"] == "quantum"), None)
        rows.append(
            {
                "variant": f"quantum, noisy on {target}",
                "seeds": len(points),
                "test_accuracy_mean": mean,
                "test_accuracy_std": std,
                "val_accuracy_mean": None,
                "val_accuracy_std": None,
                "parameters": quantum["parameters"] if quantum else None,
                "test_images": points[0]["test_samples"],
                "noiseless_same_images_mean": noiseless,
            }
        )
    return rows


def _describe(cfg: AblationConfig) -> dict:
    b = cfg.base
    return {
        "dataset": b.dataset,
        "image": list(b.image),
        "patch": list(b.patch),
        "layers": b.layers,
        "heads": b.heads,
        "blocks": b.blocks,
        "epochs": b.epochs,
        "batch": b.batch,
        "lr": b.lr,
        "limit": b.limit,
        "val": b.val,
        "mlp_ratio": b.mlp_ratio,
        "temperature": b.temperature,
        "schedule": b.schedule,
        "backend": b.backend,
        "seeds": list(cfg.seeds),
        "noisy_targets": list(cfg.noisy_targets),
        "trajectories": cfg.trajectories,
        "noisy_limit": cfg.noisy_limit,
        "device_shots": cfg.device_shots,
    }


def _pct(mean: float | None, std: float | None) -> str:
    return "–" if mean is None else f"{100 * mean:.2f} ± {100 * (std or 0.0):.2f}"


def markdown(result: dict) -> str:
    c = result["config"]
    lines = [
        f"Attention ablation: {c['dataset']} {c['image'][0]}x{c['image'][1]}, patch {c['patch'][0]}x{c['patch'][1]}, "
        f"{c['blocks']} block(s), {c['heads']} head(s), {c['layers']} ansatz layers, {c['epochs']} epochs, "
        f"batch {c['batch']}, lr {c['lr']:g}, val {c['val']:g}, seeds {', '.join(map(str, c['seeds']))}; "
        "test accuracy in %, mean ± sample std over the seeds.",
        "",
        "| variant | seeds | test accuracy | val accuracy | trainable parameters | of which attention scores |",
        "|---|---|---|---|---|---|",
    ]
    for r in result["summary"]:
        p = r["parameters"] or {}
        lines.append(
            f"| {r['variant']} | {r['seeds']} | {_pct(r['test_accuracy_mean'], r['test_accuracy_std'])} | "
            f"{_pct(r['val_accuracy_mean'], r['val_accuracy_std'])} | {p.get('trainable', '–')} | "
            f"{p.get('attention_scores', '–')} |"
        )
    if result["noisy"]:
        same = "; ".join(
            f"{r['variant'].split(' on ')[-1]} {100 * r['noiseless_same_images_mean']:.2f} %"
            for r in result["summary"]
            if "noiseless_same_images_mean" in r
        )
        lines += [
            "",
            f"Noisy rows: each trained quantum model evaluated at calibrated noise ({c['trajectories']} trajectories, "
            f"the first {result['summary'][-1].get('test_images')} test images, compiled at --opt 2); the same "
            f"models without noise on the same images: {same}.",
        ]
    if result.get("device_time"):
        lines += [
            "",
            "Device time of the quantum model (training by parameter shift; per shot: schedule, readout, "
            "repetition delay):",
            "",
        ]
        lines += ["| target | shots | executions per image (train / eval) | one epoch | one test-set evaluation |"]
        lines += ["|---|---|---|---|---|"]
        for d in result["device_time"]:
            per = d["executions_per_image"]
            lines.append(
                f"| {d['target']} | {d['shots']} | {per['training']} / {per['evaluation']} | "
                f"{duration_text(d['epoch_seconds'])} | {duration_text(d['evaluation_seconds'])} |"
            )
    if result["interrupted"]:
        lines += ["", "Interrupted: the rows above are the runs that finished."]
    return "\n".join(lines) + "\n"


def plot(result: dict, path: Path) -> None:
    from hqvit.studies.noise_study import _pyplot

    plt = _pyplot()
    rows = [r for r in result["summary"] if r["test_accuracy_mean"] is not None]
    fig, ax = plt.subplots(figsize=(1.6 + 1.2 * max(len(rows), 1), 3.4))
    means = [100 * r["test_accuracy_mean"] for r in rows]
    stds = [100 * (r["test_accuracy_std"] or 0.0) for r in rows]
    ax.bar(range(len(rows)), means, yerr=stds, capsize=4, color="#4c72b0")
    ax.set_xticks(range(len(rows)), [r["variant"].replace(", ", "\n") for r in rows], fontsize=8)
    low = min(means, default=0.0) - 3 * max(stds, default=0.0) - 2
    ax.set_ylim(max(0.0, math.floor(low)), 100)
    ax.set_ylabel("test accuracy (%)")
    c = result["config"]
    ax.set_title(f"{c['dataset']} {c['image'][0]}x{c['image'][1]}: attention ablation", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
