"""Shot budgets: what a trained checkpoint's accuracy and attention cost at a finite number of shots.

A noiseless device running the HQViT circuit returns, per shot, one outcome (a, i, j) drawn from
P(a, i, j) = p_i p_j (1 ± S_ij) / 2 (``HQVIT_CIRCUIT.md``: swap-test bit a, query token i, key
token j, p_i = ||x_i||² / ||X||²). So a run of N shots is a multinomial draw from that
distribution, and S is estimated from the counts exactly as ``hqvit train --shots`` does
(``runtime.readout.sample_joint``, then ``attention_torch``: tokens never observed are masked,
S clipped to [0, 1]). The distribution is built from the closed-form S of ``runtime.exact``,
which equals the compiled circuit's noiseless probabilities (``hqvit verify``; a test checks the
joint against qsim's readout), so sampling it is the honest model of a noiseless device and costs
no state-vector simulation. Every circuit (image, block, head) gets its own N shots; later blocks
see the earlier blocks' sampled scores, as they would on hardware.

Per shot budget and sampling seed: test accuracy and the mean |S - S_exact| over the token pairs
that are valid in the exact scores (S_exact of the same circuit on the same input), and the
fraction of valid tokens a budget never observes (masked, as on hardware). Intervals:
the standard deviation over seeds, and 95 % bootstrap intervals over test images (per-image
figures averaged over the seeds first) of |dS| and of the accuracy drop from the exact model.
``shots_needed``: the smallest budget tried from which on every larger one stays within the
tolerance of the exact accuracy, by the mean drop and, conservatively, by the upper end of the
drop's interval.

Shots are drawn per image, from a generator seeded by (sampling seed, budget, block, image
index), so an image's draws do not depend on which other images share its batch or its process.
Under ``torchrun`` each rank evaluates a contiguous range of whole batches of the test images
(``runtime.distributed.shard``), the per-image figures are gathered in image order, and every
figure is the single-process one; rank 0 writes the files.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from hqvit.ir.errors import InputError
from hqvit.runtime.checkpoint import load_checkpoint
from hqvit.runtime.distributed import SINGLE, Ranks, shard
from hqvit.runtime.exact import exact_attention
from hqvit.runtime.model import QUANTUM_ATTENTIONS, QuantumScores, VisionTransformer
from hqvit.runtime.readout import attention_torch, sample_joint
from hqvit.runtime.train import checkpoint_configs, prepare, restore_model, seed_everything

DEFAULT_SHOTS = (100, 300, 1000, 3000, 10000, 30000, 100000)
BOOTSTRAP = 2000  # resamples of the test images for the 95 % intervals
MAX_SHOTS = 10**9


@dataclass
class ShotConfig:
    checkpoint: str
    shots: tuple[int, ...] = DEFAULT_SHOTS
    seeds: int = 3  # shot-sampling seeds per budget
    limit: int | None = None  # the first N test images (default: the whole test split)
    tolerance: float = 1.0  # accuracy points: what "within the exact accuracy" means
    batch: int = 50  # images per model call; also the unit the ranks share out (whole batches)

    def validate(self) -> None:
        """Checked before the checkpoint is loaded; each message names its argument."""
        if not self.shots:
            raise InputError("--shots must list at least one budget")
        if any(isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_SHOTS for n in self.shots):
            raise InputError(f"--shots must be integers in 1..{MAX_SHOTS}, got {list(self.shots)}")
        if len(set(self.shots)) != len(self.shots):
            raise InputError(f"--shots must be distinct, got {list(self.shots)}")
        if not isinstance(self.seeds, int) or self.seeds < 1:
            raise InputError(f"--seeds must be an integer >= 1, got {self.seeds!r}")
        if self.limit is not None and self.limit < 1:
            raise InputError(f"--limit must be >= 1, got {self.limit}")
        if not math.isfinite(self.tolerance) or not self.tolerance > 0:
            raise InputError(f"--tolerance must be a finite number of points > 0, got {self.tolerance}")


class SampledScores(nn.Module):
    """Stands in for a block's ``QuantumScores``: S estimated from ``shots`` samples per circuit
    (image, head) of its exact outcome distribution, or the exact S when ``shots`` is None.

    The mask is the AND over heads of the observed valid tokens, as ``QsimAttention`` gives it.
    Each call records, per image, the mean |S - S_exact| over heads and exact-valid pairs."""

    def __init__(self, inner: QuantumScores):
        super().__init__()
        self.inner = inner
        self.shots: int | None = None
        self.key: list[int] = [0]  # (seed, budget, block): with the image index, a draw's seed
        self.next_image = 0  # index (in the test images) of the first image of the next call
        self.errors: list[np.ndarray] = []
        self.unobserved: list[np.ndarray] = []  # per image: fraction of valid tokens masked for lack of counts

    @property
    def log_tau(self) -> torch.Tensor:  # Block.forward scales the scores by the inner temperature
        return self.inner.log_tau

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s_exact, valid = exact_attention(tokens, self.inner.params, self.inner.cfg)
        if self.shots is None:
            return s_exact.to(tokens.dtype), valid
        b, h, t, _ = s_exact.shape
        joint = exact_joint(tokens, s_exact).numpy()
        first, self.next_image = self.next_image, self.next_image + b
        draws = [sample_joint(joint[i], self.shots, np.random.default_rng([*self.key, first + i])) for i in range(b)]
        freq = torch.from_numpy(np.concatenate(draws))
        s, mask = attention_torch(freq, valid.repeat_interleave(h, dim=0))
        s, mask = s.reshape(b, h, t, t), mask.reshape(b, h, t).all(dim=1)
        pair = (valid[:, :, None] & valid[:, None, :])[:, None].expand(b, h, t, t)
        err = torch.where(pair, (s - s_exact).abs(), torch.zeros_like(s)).sum(dim=(1, 2, 3))
        self.errors.append((err / pair.sum(dim=(1, 2, 3)).clamp(min=1)).numpy())
        self.unobserved.append(((valid & ~mask).sum(1) / valid.sum(1).clamp(min=1)).numpy())
        return s.to(tokens.dtype), mask


def exact_joint(tokens: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """tokens (B, T, d), S (B, H, T, T) -> P(a, i, j) (B, H, 2, T, T): p_i p_j (1 + S) / 2 for a = 0,
    p_i p_j (1 - S) / 2 for a = 1. Tokens of zero norm have p = 0: never observed."""
    norms = (tokens.detach().to(torch.float64) ** 2).sum(-1)
    p = norms / norms.sum(-1, keepdim=True)
    pp = (p[:, :, None] * p[:, None, :])[:, None]
    return torch.stack([pp * (1 + s) / 2, pp * (1 - s) / 2], dim=2)


@dataclass
class ShotSetup:
    model: VisionTransformer
    scores: list[SampledScores]
    images: torch.Tensor
    labels: torch.Tensor
    info: dict = field(default_factory=dict)


def load_setup(cfg: ShotConfig) -> ShotSetup:
    """The checkpoint's model with every quantum block's scores sampled, and its test images."""
    ckpt = load_checkpoint(cfg.checkpoint)
    tcfg, mcfg = checkpoint_configs(ckpt, cfg.checkpoint)
    if mcfg.attention not in QUANTUM_ATTENTIONS:
        raise InputError(f"--checkpoint {cfg.checkpoint} has {mcfg.attention} attention: there is no circuit to sample")
    seed_everything(tcfg.seed)
    ds, _, te = prepare(tcfg)
    te = te[: cfg.limit] if cfg.limit is not None else te
    model = restore_model(ckpt, mcfg, cfg.checkpoint, backend="exact", seed=tcfg.seed)
    model.eval()
    scores = []
    for block in model.blocks:
        block.scores = SampledScores(block.scores)
        scores.append(block.scores)
    c = mcfg.circuit
    info = {
        "checkpoint": str(cfg.checkpoint),
        "dataset": tcfg.dataset,
        "image": list(c.image),
        "patch": list(c.patch),
        "blocks": mcfg.blocks,
        "heads": c.heads,
        "layers": c.layers,
        "attention": mcfg.attention,
        "circuits_per_image": mcfg.blocks * c.heads,
        "test_images": len(te),
    }
    return ShotSetup(model, scores, ds.images[te], ds.labels[te], info)


@dataclass
class Evaluation:
    """Per test image, in image order: correct, and per block |dS| and the unobserved fraction
    (empty for the exact pass)."""

    correct: np.ndarray
    errors: list[np.ndarray]
    unobserved: list[np.ndarray]

    @property
    def abs_ds(self) -> np.ndarray:
        """Per image: the mean |dS| over the blocks."""
        return np.mean(self.errors, axis=0)


def _gathered(ranks: Ranks, part: np.ndarray) -> np.ndarray:
    """The ranks' per-image arrays concatenated in rank (image) order."""
    return np.concatenate(ranks.gather(part)) if ranks.active else part


@torch.no_grad()
def _evaluate(setup: ShotSetup, shots: int | None, seed: int, batch: int, ranks: Ranks = SINGLE) -> Evaluation:
    """This rank's whole batches of the test images, the per-image figures gathered from all ranks."""
    lo, hi = shard(len(setup.labels), ranks, batch)
    for k, sc in enumerate(setup.scores):
        # draws seeded per (seed, budget, block, image): a budget's draws do not depend on the
        # others tried, an image's not on where it is evaluated
        sc.shots, sc.errors, sc.unobserved, sc.key, sc.next_image = shots, [], [], [seed, shots or 0, k], lo
    correct = [np.zeros(0, dtype=bool)]
    for start in range(lo, hi, batch):
        logits = setup.model(setup.images[start : min(start + batch, hi)])
        correct.append((logits.argmax(1) == setup.labels[start : min(start + batch, hi)]).numpy())
    if shots is None:
        return Evaluation(_gathered(ranks, np.concatenate(correct)), [], [])
    empty = np.zeros(0)
    return Evaluation(
        _gathered(ranks, np.concatenate(correct)),
        [_gathered(ranks, np.concatenate([empty, *sc.errors])) for sc in setup.scores],
        [_gathered(ranks, np.concatenate([empty, *sc.unobserved])) for sc in setup.scores],
    )


def _interval(values: np.ndarray, rng: np.random.Generator) -> list[float]:
    """95 % percentile bootstrap interval of the mean over images."""
    idx = rng.integers(0, len(values), size=(BOOTSTRAP, len(values)))
    means = values[idx].mean(axis=1)
    return [float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))]


def run_shots(
    cfg: ShotConfig, on_point: Callable[[dict], None] | None = None, log=print, ranks: Ranks = SINGLE
) -> dict:
    """Every budget in increasing order, each over ``cfg.seeds`` sampling seeds; ``on_point`` gets
    the result after each budget (Ctrl-C keeps the finished ones: ``interrupted`` is set). With
    ``ranks`` the images are shared out and every rank returns the single-process result."""
    cfg.validate()
    setup = load_setup(cfg)
    t0 = time.perf_counter()
    exact_correct = _evaluate(setup, None, 0, cfg.batch, ranks).correct
    result = {
        **setup.info,
        "seeds": cfg.seeds,
        "tolerance_points": cfg.tolerance,
        "exact_accuracy": float(exact_correct.mean()),
        "points": [],
        "interrupted": False,
    }
    boot = np.random.default_rng(12345)
    try:
        for shots in sorted(cfg.shots):
            log(f"{shots} shots per circuit, {cfg.seeds} seeds")
            runs, unobserved, per_block = [], [], []
            for seed in range(cfg.seeds):
                ev = _evaluate(setup, shots, seed, cfg.batch, ranks)
                runs.append((ev.correct, ev.abs_ds))
                unobserved.append(np.mean([u.mean() for u in ev.unobserved]))
                per_block.append([e.mean() for e in ev.errors])
            acc = np.array([c.mean() for c, _ in runs])
            ds = np.array([e.mean() for _, e in runs])
            drop = exact_correct.astype(float) - np.mean([c for c, _ in runs], axis=0)
            result["points"].append(
                {
                    "shots": shots,
                    "shots_per_image": shots * setup.info["circuits_per_image"],
                    "accuracy_mean": float(acc.mean()),
                    "accuracy_std": float(acc.std(ddof=1)) if len(acc) > 1 else 0.0,
                    "accuracy_per_seed": acc.tolist(),
                    "accuracy_drop_mean": float(drop.mean()),
                    "accuracy_drop_ci95": _interval(drop, boot),
                    "abs_ds_mean": float(ds.mean()),
                    "abs_ds_std": float(ds.std(ddof=1)) if len(ds) > 1 else 0.0,
                    "abs_ds_per_seed": ds.tolist(),
                    "abs_ds_ci95": _interval(np.mean([e for _, e in runs], axis=0), boot),
                    "abs_ds_per_block": np.mean(per_block, axis=0).tolist(),
                    "unobserved_tokens": float(np.mean(unobserved)),
                }
            )
            result.update(shots_needed(result["points"], cfg.tolerance / 100))
            result["seconds"] = round(time.perf_counter() - t0, 3)
            if on_point:
                on_point(result)
    except KeyboardInterrupt:
        result["interrupted"] = True
    result.update(shots_needed(result["points"], cfg.tolerance / 100))
    result["seconds"] = round(time.perf_counter() - t0, 3)
    return result


def shots_needed(points: list[dict], tolerance: float) -> dict:
    """The smallest budget from which on every larger one tried keeps the accuracy drop within
    ``tolerance`` (a fraction): by the mean drop, and by the upper end of its 95 % interval.
    None when even the largest budget does not."""

    pts = sorted(points, key=lambda p: p["shots"])

    def first_from(ok: list[bool]) -> int | None:
        k = len(ok)
        while k > 0 and ok[k - 1]:
            k -= 1
        return pts[k]["shots"] if k < len(ok) else None

    return {
        "shots_needed": first_from([p["accuracy_drop_mean"] <= tolerance for p in pts]),
        "shots_needed_ci95": first_from([p["accuracy_drop_ci95"][1] <= tolerance for p in pts]),
    }


def _needed_text(n: int | None, circuits: int) -> str:
    return "not reached within the budgets tried" if n is None else f"{n} per circuit ({n * circuits} per image)"


def markdown(result: dict) -> str:
    c = result["circuits_per_image"]
    lines = [
        f"Shot budget: {result['dataset']} {result['image'][0]}x{result['image'][1]}, {result['blocks']} block(s) x "
        f"{result['heads']} head(s) = {c} circuits per image, {result['test_images']} test images, "
        f"{result['seeds']} sampling seeds; exact accuracy {100 * result['exact_accuracy']:.2f} %.",
        "",
        "| shots per circuit | shots per image | accuracy % (mean ± std over seeds) | drop from exact, points "
        "(95 % CI over images) | mean abs(S - S_exact) (95 % CI) | per block | valid tokens never observed |",
        "|---|---|---|---|---|---|---|",
    ]
    for p in result["points"]:
        lo, hi = p["accuracy_drop_ci95"]
        dlo, dhi = p["abs_ds_ci95"]
        blocks = " / ".join(f"{e:.4f}" for e in p["abs_ds_per_block"])
        lines.append(
            f"| {p['shots']} | {p['shots_per_image']} | {100 * p['accuracy_mean']:.2f} ± {100 * p['accuracy_std']:.2f} "
            f"| {100 * p['accuracy_drop_mean']:.2f} [{100 * lo:.2f}, {100 * hi:.2f}] "
            f"| {p['abs_ds_mean']:.4f} [{dlo:.4f}, {dhi:.4f}] | {blocks} "
            f"| {100 * p['unobserved_tokens']:.2f} % |"
        )
    tol = result["tolerance_points"]
    lines += [
        "",
        f"Shots needed to stay within {tol:g} point(s) of the exact accuracy: mean drop "
        f"{_needed_text(result.get('shots_needed'), c)}; upper end of the 95 % interval "
        f"{_needed_text(result.get('shots_needed_ci95'), c)}.",
    ]
    if result["interrupted"]:
        lines += ["", "Interrupted: the rows above are the budgets that finished."]
    return "\n".join(lines) + "\n"


def plot(result: dict, path) -> None:
    from hqvit.studies.noise_study import _pyplot

    pts = result["points"]
    if not pts:
        return
    plt = _pyplot()
    x = np.array([p["shots"] for p in pts], dtype=float)
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    acc = np.array([100 * p["accuracy_mean"] for p in pts])
    ax.errorbar(
        x, acc, yerr=[100 * p["accuracy_std"] for p in pts], marker="o", capsize=3, label="sampled (± std, seeds)"
    )
    exact = 100 * result["exact_accuracy"]
    lo = exact - 100 * np.array([p["accuracy_drop_ci95"][1] for p in pts])
    hi = exact - 100 * np.array([p["accuracy_drop_ci95"][0] for p in pts])
    ax.fill_between(x, lo, hi, alpha=0.2, label="exact - drop, 95 % CI (images)")
    ax.axhline(exact, color="k", lw=1, label="exact")
    ax.axhline(
        exact - result["tolerance_points"], color="k", lw=1, ls=":", label=f"exact - {result['tolerance_points']:g}"
    )
    ax.set_xscale("log")
    ax.set_xlabel("shots per circuit")
    ax.set_ylabel("test accuracy (%)")
    ax.legend(fontsize=7)
    ds = np.array([p["abs_ds_mean"] for p in pts])
    err = np.array([[p["abs_ds_mean"] - p["abs_ds_ci95"][0], p["abs_ds_ci95"][1] - p["abs_ds_mean"]] for p in pts]).T
    ax2.errorbar(x, ds, yerr=err, marker="o", capsize=3, label="mean |S - S_exact| (95 % CI)")
    last = ds[-1]  # the reference slope goes through the lowest final point
    if "abs_ds_per_block" in pts[0]:
        for k, per in enumerate(zip(*(p["abs_ds_per_block"] for p in pts), strict=True)):
            ax2.plot(x, per, marker=".", lw=1, ls="--", label=f"block {k + 1}")
            last = min(last, per[-1])
    ax2.plot(x, last * np.sqrt(x[-1] / x), "k:", lw=1, label="1/sqrt(shots)")
    ax2.set_xscale("log")
    ax2.set_yscale("log")
    ax2.set_xlabel("shots per circuit")
    ax2.set_ylabel("mean |S - S_exact|")
    ax2.legend(fontsize=7)
    fig.suptitle(
        f"{result['dataset']} {result['image'][0]}x{result['image'][1]}: shot budget "
        f"({result['circuits_per_image']} circuits per image, {result['test_images']} images)",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
