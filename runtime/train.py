"""Training and evaluation: Adam, per-epoch checkpoints written atomically, resume, seeds."""

from __future__ import annotations

import math
import random
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from hqvit.compiler.hqvit import HQViTConfig
from hqvit.ir.errors import InputError, TrainingDiverged
from hqvit.ir.resources import MAX_SEED, check_simulable
from hqvit.runtime.checkpoint import CHECKPOINT_NAME, OutputLock, load_checkpoint, save_atomic
from hqvit.runtime.data import Dataset, load_dataset, split
from hqvit.runtime.distributed import (
    RANK_SEED_STRIDE,
    SINGLE,
    GlobalBatchSampler,
    Ranks,
    RankStopped,
    StepVote,
    attach_vote,
    contiguous_grads,
    first_line,
    init,
    peer_failure,
    rank_threads,
    shard,
)
from hqvit.runtime.model import QUANTUM_ATTENTIONS, ModelConfig, VisionTransformer, parameter_counts
from hqvit.runtime.quantum_attention import GRADIENTS
from hqvit.runtime.threads import threads_for
from hqvit.targets import resolve_target

MAX_THREADS = 256
# What must match between a checkpoint and a run that resumes it: the model's shape and the data
# split (dataset, limit and seed choose the test images; resuming with others would train on them).
# How gradients are computed, and on how many threads, does not change the model: not listed.
RESUME_FIELDS = (
    "dataset",
    "image",
    "patch",
    "layers",
    "heads",
    "swap_test",
    "blocks",
    "attention",
    "limit",
    "seed",
    "val",
    "mlp_ratio",
    "temperature",
)
MAX_VAL = 0.5
SCHEDULES = ("constant", "cosine")


@dataclass
class TrainConfig:
    dataset: str = "digits"
    image: tuple[int, int] = (8, 8)
    patch: tuple[int, int] = (4, 4)
    layers: int = 2
    heads: int = 1
    swap_test: str = "bell"
    blocks: int = 1
    attention: str = "quantum"
    backend: str = "qsim"
    shots: int | None = None
    epochs: int = 10
    batch: int = 32
    lr: float = 1e-2
    seed: int = 0
    limit: int | None = None
    out: str = "runs/latest"
    target: str | None = None  # with noise: train on the circuit compiled for this device ...
    noise: bool = False  # ... under its calibrated noise (qsim trajectories)
    trajectories: int = 16
    gradient: str = "adjoint"  # noiseless qsim training: adjoint sweep or parameter shift (the oracle)
    threads: int | None = None  # torch's and qsim's threads; None: by circuit size (runtime.threads)
    val: float = 0.0  # fraction of the training split held out for tuning; the test split is then read once
    mlp_ratio: int = 4  # MLP width per token dimension
    temperature: float = 0.1  # initial softmax temperature of the quantum scores (S lies in [0, 1])
    schedule: str = "constant"  # learning rate: constant, or cosine decay to 0 over the epochs

    def model_config(self, classes: int) -> ModelConfig:
        circuit = HQViTConfig(self.image, self.patch, self.layers, self.heads, self.swap_test)
        return ModelConfig(
            circuit,
            classes=classes,
            blocks=self.blocks,
            mlp_ratio=self.mlp_ratio,
            attention=self.attention,
            temperature=self.temperature,
        )

    def validate(self) -> None:
        """Every argument checked before any data is loaded, each on its own so the message names
        the one that is wrong. The CLI relies on this: it does not repeat these checks."""
        for name in ("epochs", "batch", "blocks", "mlp_ratio"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise InputError(f"--{name.replace('_', '-')} must be an integer >= 1, got {value!r}")
        if not isinstance(self.lr, (int, float)) or not math.isfinite(self.lr) or self.lr <= 0:
            raise InputError(f"--lr must be a finite number > 0, got {self.lr!r}")
        if not isinstance(self.seed, int) or not 0 <= self.seed <= MAX_SEED:
            raise InputError(f"--seed must be an integer in 0..{MAX_SEED}, got {self.seed!r}")
        if self.shots is not None and self.shots < 1:
            raise InputError(f"--shots must be >= 1, got {self.shots}")
        if (
            not isinstance(self.temperature, (int, float))
            or not math.isfinite(self.temperature)
            or self.temperature <= 0
        ):
            raise InputError(f"--temperature must be a finite number > 0, got {self.temperature!r}")
        if self.schedule not in SCHEDULES:
            raise InputError(f"--schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        if not isinstance(self.val, (int, float)) or not 0 <= self.val <= MAX_VAL:
            raise InputError(f"--val must be a fraction in [0, {MAX_VAL}], got {self.val!r}")
        if self.limit is not None and self.limit < 10:
            raise InputError(f"--limit must be at least 10 images, got {self.limit}")
        if self.gradient not in GRADIENTS:
            raise InputError(f"--gradient must be one of {', '.join(GRADIENTS)}, got {self.gradient!r}")
        if self.threads is not None and (not isinstance(self.threads, int) or not 1 <= self.threads <= MAX_THREADS):
            raise InputError(f"--threads must be an integer in 1..{MAX_THREADS}, got {self.threads!r}")
        if self.trajectories < 2:
            raise InputError(f"--trajectories must be >= 2, got {self.trajectories}")
        out = Path(self.out)
        if out.exists() and not out.is_dir():
            raise InputError(f"--out {out} is an existing file; it must name a directory (checkpoint.pt goes in it)")
        if self.noise:
            self._validate_noise()
        elif self.target:
            raise InputError("--target is used with --noise (train under that device's calibrated noise)")
        circuit = self.model_config(10).circuit  # the sizes (InputError from HQViTConfig)
        if self.attention in QUANTUM_ATTENTIONS and self.backend == "qsim":
            check_simulable(circuit.logical_qubits, "the attention circuit")
        if circuit.features % circuit.heads:
            raise InputError(f"--heads {self.heads} must divide the token dimension {circuit.features}")

    def _validate_noise(self) -> None:
        if not self.target:
            raise InputError("--noise needs --target NAME (the device whose calibrated noise to train under)")
        if self.attention not in QUANTUM_ATTENTIONS or self.backend != "qsim":
            raise InputError(
                "--noise trains the quantum attention on qsim: use --attention quantum (or frozen) --backend qsim"
            )
        if self.blocks != 1:
            raise InputError("--noise supports --blocks 1 (parameter shift on noisy trajectories, no data gradients)")
        if self.shots is not None:
            raise InputError("--noise and --shots cannot be combined; use --trajectories")
        resolve_target(self.target)  # a bad name fails here, not after the data is loaded

    @staticmethod
    def from_dict(d: object, where: str) -> TrainConfig:
        """Rebuild from a checkpoint's plain dict, which may come from anyone: unknown or
        mistyped fields are an InputError, never a crash."""
        known = {f.name for f in fields(TrainConfig)}
        if not isinstance(d, dict) or not set(d) <= known:
            extra = sorted(set(d) - known) if isinstance(d, dict) else []
            raise InputError(f"{where}: field 'train_config' is not a training configuration {extra or ''}".strip())
        try:
            cfg = TrainConfig(**{**d, "image": tuple(d.get("image", (8, 8))), "patch": tuple(d.get("patch", (4, 4)))})
            cfg.model_config(10)
        except (TypeError, ValueError) as e:
            raise InputError(f"{where}: field 'train_config' is invalid: {e}") from None
        return cfg


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _check_resumable(cfg: TrainConfig, ckpt: dict, path: str) -> None:
    """A resumed run must train the same model on the same split; say which argument differs."""
    old = TrainConfig.from_dict(ckpt["train_config"], f"checkpoint {path}")
    for name in RESUME_FIELDS:
        mine, theirs = getattr(cfg, name), getattr(old, name)
        if mine != theirs:
            show = (lambda v: "x".join(map(str, v))) if name in ("image", "patch") else str
            raise InputError(
                f"--resume {path} was trained with --{name.replace('_', '-')} {show(theirs)}, "
                f"this run asks for {show(mine)}; resume with the same value or start a new --out"
            )


def _all_finite(loss: torch.Tensor, model: nn.Module, ranks: Ranks = SINGLE, vote: StepVote | None = None) -> bool:
    """The loss and every gradient finite; with several ranks, on all of them, so every rank
    stops at the same step: the losses' flags came with the gradient all-reduce (``vote``), and
    the averaged gradients are the same on every rank (a collective of its own only if the vote
    did not run)."""
    grads_ok = all(p.grad is None or bool(torch.isfinite(p.grad).all()) for p in model.parameters())
    if vote is not None and vote.bad_ranks is not None:
        return vote.bad_ranks == 0 and grads_ok
    ok = bool(torch.isfinite(loss)) and grads_ok
    return ranks.sum([float(not ok)])[0] == 0 if ranks.active else ok


@torch.no_grad()
def accuracy(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch: int = 256, desc: str = "eval"
) -> float:
    model.eval()
    correct = 0
    for start in tqdm(range(0, len(labels), batch), desc=desc, leave=False, disable=None):
        logits = model(images[start : start + batch])
        correct += int((logits.argmax(1) == labels[start : start + batch]).sum())
    return correct / max(len(labels), 1)


def sharded_accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, ranks: Ranks, desc: str) -> float:
    """``accuracy`` with the images split across the ranks in whole batches of 256 (the batches
    a single process forms), the correct counts summed."""
    if not ranks.active:
        return accuracy(model, images, labels, desc=desc)
    lo, hi = shard(len(labels), ranks, 256)
    correct = accuracy(model, images[lo:hi], labels[lo:hi], desc=desc) * (hi - lo)
    return round(ranks.sum([correct])[0]) / max(len(labels), 1)


def prepare(cfg: TrainConfig) -> tuple[Dataset, np.ndarray, np.ndarray]:
    ds = load_dataset(cfg.dataset, cfg.image)
    tr, te = split(ds, cfg.seed, cfg.limit)
    return ds, tr, te


def validation_split(ds: Dataset, tr: np.ndarray, cfg: TrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation) indices: a stratified, seeded ``cfg.val`` of the training split, so
    tuning never sees the test split (empty validation when ``cfg.val`` is 0)."""
    if not cfg.val:
        return tr, tr[:0]
    from sklearn.model_selection import train_test_split

    y = ds.labels.numpy()[tr]
    _, counts = np.unique(y, return_counts=True)
    fit, va = train_test_split(
        tr, test_size=cfg.val, stratify=y if counts.min() >= 2 else None, random_state=cfg.seed + 1
    )
    return np.sort(fit), np.sort(va)


def _use_noise(model: VisionTransformer, cfg: TrainConfig, draw_seed: int) -> None:
    from hqvit.compiler.pipeline import compile_hqvit

    compiled = compile_hqvit(model.cfg.circuit, resolve_target(cfg.target), opt=2, seed=cfg.seed)
    model.use_noise(compiled, cfg.trajectories, draw_seed)


def train(cfg: TrainConfig, resume: str | None = None, log=print) -> dict:
    """Train with Adam, writing ``cfg.out``/checkpoint.pt atomically after every epoch.

    The output directory is locked for the whole run. Training stops with ``TrainingDiverged`` at
    the first non-finite loss or gradient, before the optimizer step, so the checkpoint on disk is
    always the last good epoch. On resume, ``--lr`` replaces the learning rate saved in the
    optimizer state (the moment estimates are kept).

    Under ``torchrun`` the ranks train one DistributedDataParallel model on shares of the same
    global batches (``runtime.distributed``); rank 0 alone holds the lock, logs and writes the
    checkpoint, and every rank returns the same summary.
    """
    cfg.validate()
    ckpt = None
    if resume:
        ckpt = load_checkpoint(resume)
        _check_resumable(cfg, ckpt, resume)
    ranks = init()
    lock = OutputLock(Path(cfg.out)) if ranks.main else nullcontext()
    try:
        lock.__enter__()
    except InputError as e:
        ranks.agree(str(e))
        raise
    error = ranks.agree(None)
    if error is not None:  # rank 0 could not lock the output: every rank stops with its message
        raise InputError(error)
    try:
        return _train_locked(cfg, ckpt, resume, log if ranks.main else _silent, ranks)
    finally:
        lock.__exit__(None, None, None)


def _silent(message: str) -> None:
    """The log of ranks other than 0: rank 0 speaks for the job."""


def resolved_threads(cfg: TrainConfig, ranks: Ranks = SINGLE) -> int:
    """``cfg.threads``, or when it is None the count ``runtime.threads`` picks for the circuit
    (on this rank's share of the cores under a launcher)."""
    qubits = cfg.model_config(10).circuit.logical_qubits
    if ranks.world > 1 or ranks.local_world > 1:
        return rank_threads(qubits, ranks, cfg.threads)
    if cfg.threads is not None:
        return cfg.threads
    return threads_for(qubits)


def _step_loss(
    net: nn.Module, x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor, global_n: int, ranks: Ranks
) -> tuple[torch.Tensor, float]:
    """(the loss to differentiate, the sum of this rank's sample losses).

    One process: the mean over the batch, as always. Several: this rank's sum times
    world / global batch size, so DDP's mean over the ranks of these gradients is the gradient of
    the mean over the global batch however it is shared out.
    """
    if not ranks.active:
        loss = nn.functional.cross_entropy(net(x[idx]), y[idx])
        return loss, loss.item() * len(idx)
    if len(idx) == 0:  # fewer samples than ranks in the last batch: DDP still needs this rank's
        return 0.0 * nn.functional.cross_entropy(net(x[:1]), y[:1]), 0.0  # backward (zero gradients)
    total = nn.functional.cross_entropy(net(x[idx]), y[idx], reduction="sum")
    return total * (ranks.world / global_n), total.item()


def _train_locked(cfg: TrainConfig, ckpt: dict | None, resume: str | None, log, ranks: Ranks = SINGLE) -> dict:
    seed_everything(cfg.seed)
    threads = resolved_threads(cfg, ranks)
    torch.set_num_threads(threads)
    ds, tr, te = prepare(cfg)
    mcfg = cfg.model_config(ds.classes)
    draw_seed = cfg.seed + RANK_SEED_STRIDE * ranks.rank  # shots, trajectories: each rank its own draws
    model = VisionTransformer(
        mcfg, backend=cfg.backend, shots=cfg.shots, seed=draw_seed, gradient=cfg.gradient, threads=threads
    )
    if cfg.noise:
        _use_noise(model, cfg, draw_seed)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    start_epoch, history, train_seconds, samples = 0, [], 0.0, 0
    if ckpt is not None:
        try:
            model.load_state_dict(ckpt["model"])
            opt.load_state_dict(ckpt["optimizer"])
            torch.set_rng_state(ckpt["torch_rng"])
            start_epoch, history = int(ckpt["epoch"]), list(ckpt["history"])
        except (KeyError, RuntimeError, ValueError, TypeError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise InputError(f"--resume {resume} does not fit this model: {first}") from None
        for group in opt.param_groups:
            group["lr"] = cfg.lr
        train_seconds, samples = ckpt.get("train_seconds", 0.0), ckpt.get("train_samples", 0)
    # every rank holds the same parameters (same seed or checkpoint); DDP all-reduces the gradients
    net = nn.parallel.DistributedDataParallel(contiguous_grads(model)) if ranks.active else model
    vote = attach_vote(net) if ranks.active else None  # the finite-loss vote rides the all-reduce
    out = Path(cfg.out)
    ckpt_path = out / CHECKPOINT_NAME
    tr, va = validation_split(ds, tr, cfg)
    x_tr, y_tr, x_te, y_te = ds.images[tr], ds.labels[tr], ds.images[te], ds.labels[te]
    x_va, y_va = ds.images[va], ds.labels[va]
    sampler = GlobalBatchSampler(len(y_tr), cfg.batch, ranks, cfg.seed)
    steps_per_epoch = len(sampler)
    t_start = time.perf_counter()
    interrupted = False
    epoch = start_epoch
    try:
        for epoch in range(start_epoch, cfg.epochs):
            model.train()
            sampler.set_epoch(epoch)
            t0, total_loss = time.perf_counter(), 0.0
            bar = tqdm(
                sampler, desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False, disable=None if ranks.main else True
            )
            for step, (idx, global_n) in enumerate(bar):
                if cfg.schedule == "cosine":  # from the step count alone, so a resumed run continues it
                    done = (epoch * steps_per_epoch + step) / (cfg.epochs * steps_per_epoch)
                    for group in opt.param_groups:
                        group["lr"] = cfg.lr * 0.5 * (1.0 + math.cos(math.pi * done))
                opt.zero_grad()
                loss, loss_sum = _step_loss(net, x_tr, y_tr, idx, global_n, ranks)
                if vote is not None:
                    vote.arm(loss)
                loss.backward()
                if not _all_finite(loss, model, ranks, vote):
                    kept = f"epoch {epoch}, the last good one, is kept in {ckpt_path}" if history else "no checkpoint"
                    raise TrainingDiverged(
                        f"training diverged at epoch {epoch + 1}, step {step + 1}: a non-finite loss or gradient "
                        f"(--lr {cfg.lr:g}); {kept}"
                    )
                opt.step()
                total_loss += loss_sum
                samples += global_n
                bar.set_postfix(loss=f"{loss_sum / max(len(idx), 1):.3f}")
            train_seconds += time.perf_counter() - t0
            total_loss = ranks.sum([total_loss])[0]
            tr_acc = sharded_accuracy(model, x_tr, y_tr, ranks, "eval")
            # with a validation split, epochs are judged on it; the test split is read once, at the end
            held_out, x_ho, y_ho = ("val", x_va, y_va) if cfg.val else ("test", x_te, y_te)
            ho_acc = sharded_accuracy(model, x_ho, y_ho, ranks, "eval")
            history.append(
                {
                    "epoch": epoch + 1,
                    "loss": total_loss / len(y_tr),
                    "train_accuracy": tr_acc,
                    f"{held_out}_accuracy": ho_acc,
                }
            )
            log(
                f"epoch {epoch + 1}/{cfg.epochs}  loss {history[-1]['loss']:.4f} train {tr_acc:.4f} "
                f"{held_out} {ho_acc:.4f}"
            )
            if ranks.main:
                save_atomic(
                    {
                        "model": model.state_dict(),
                        "optimizer": opt.state_dict(),
                        "epoch": epoch + 1,
                        "history": history,
                        "train_config": asdict(cfg),
                        "model_config": mcfg.to_dict(),
                        "train_seconds": train_seconds,
                        "train_samples": samples,
                        "torch_rng": torch.get_rng_state(),
                    },
                    ckpt_path,
                )
    except KeyboardInterrupt:
        interrupted = True
        log(f"interrupted; the last finished epoch is saved in {ckpt_path}")
    except RuntimeError as e:
        if isinstance(e, TrainingDiverged) or not (ranks.active and peer_failure(e)):
            raise
        kept = f"the last checkpoint (epoch {len(history)}) is kept" if history else "no epoch finished; nothing saved"
        raise RankStopped(
            f"rank {ranks.rank} of {ranks.world} stopped in epoch {epoch + 1}: "
            f"{e if isinstance(e, RankStopped) else 'another rank failed (' + first_line(e) + ')'}; "
            f"{kept} in {ckpt_path}; --resume it on any number of ranks"
        ) from None
    last = history[-1] if history else {"train_accuracy": None, "test_accuracy": None}
    test_accuracy = last.get("test_accuracy")
    if cfg.val and history and not interrupted:
        test_accuracy = sharded_accuracy(model, x_te, y_te, ranks, "eval")
    return {
        "dataset": cfg.dataset,
        "attention": cfg.attention,
        "backend": cfg.backend if cfg.attention in QUANTUM_ATTENTIONS else None,
        "epochs": len(history),
        "train_samples": len(tr),
        "val_samples": len(va),
        "test_samples": len(te),
        "train_accuracy": last["train_accuracy"],
        "val_accuracy": last.get("val_accuracy"),
        "test_accuracy": test_accuracy,
        "parameters": parameter_counts(model),
        "train_samples_per_s": samples / train_seconds if train_seconds else None,
        "threads": threads,
        "ranks": ranks.world,
        "rank": ranks.rank,
        "seconds": round(time.perf_counter() - t_start, 3),
        "checkpoint": str(ckpt_path) if history else None,
        "interrupted": interrupted,
        "history": history,
    }


def checkpoint_configs(ckpt: dict, path: str | Path) -> tuple[TrainConfig, ModelConfig]:
    """The training and model configurations stored in a loaded checkpoint, validated."""
    where = f"checkpoint {path}"
    cfg = TrainConfig.from_dict(ckpt["train_config"], where)
    try:
        mcfg = ModelConfig.from_dict(ckpt["model_config"])
    except (KeyError, TypeError, ValueError) as e:
        raise InputError(f"{where}: field 'model_config' is invalid: {e}") from None
    implied = cfg.model_config(mcfg.classes)
    for name in ("circuit", "blocks", "attention"):
        if getattr(implied, name) != getattr(mcfg, name):
            raise InputError(f"{where}: fields 'train_config' and 'model_config' disagree on {name}")
    return cfg, mcfg


def restore_model(ckpt: dict, mcfg: ModelConfig, path: str | Path, **kwargs) -> VisionTransformer:
    """The model of ``mcfg`` with the checkpoint's weights; a mismatch is one InputError."""
    model = VisionTransformer(mcfg, **kwargs)
    try:
        model.load_state_dict(ckpt["model"])
    except (RuntimeError, TypeError) as e:
        first = str(e).strip().splitlines()[0]
        raise InputError(f"checkpoint {path}: the weights do not fit its model_config: {first}") from None
    return model


def evaluate(checkpoint: str, backend: str | None = None, shots: int | None = None) -> dict:
    ckpt = load_checkpoint(checkpoint)
    cfg, mcfg = checkpoint_configs(ckpt, checkpoint)
    seed_everything(cfg.seed)
    ds, tr, te = prepare(cfg)
    model = restore_model(ckpt, mcfg, checkpoint, backend=backend or cfg.backend, shots=shots, seed=cfg.seed)
    t0 = time.perf_counter()
    acc = accuracy(model, ds.images[te], ds.labels[te])
    return {
        "checkpoint": str(checkpoint),
        "dataset": cfg.dataset,
        "backend": backend or cfg.backend,
        "epoch": ckpt["epoch"],
        "test_samples": len(te),
        "test_accuracy": acc,
        "seconds": round(time.perf_counter() - t0, 3),
    }
