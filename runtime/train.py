"""Training and evaluation: Adam, per-epoch checkpoints written atomically, resume, seeds."""

from __future__ import annotations

import os
import random
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from compiler.errors import InputError
from compiler.hqvit import HQViTConfig

from .data import Dataset, load_dataset, split
from .model import ModelConfig, VisionTransformer

CHECKPOINT_NAME = "checkpoint.pt"


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

    def model_config(self, classes: int) -> ModelConfig:
        circuit = HQViTConfig(self.image, self.patch, self.layers, self.heads, self.swap_test)
        return ModelConfig(circuit, classes=classes, blocks=self.blocks, attention=self.attention)


@dataclass
class History:
    epochs: list[dict] = field(default_factory=list)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def save_atomic(obj: dict, path: Path) -> None:
    """Write to a temporary file in the same directory, then rename: a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path: str | Path) -> dict:
    p = Path(path)
    if not p.is_file():
        raise InputError(f"checkpoint {p} does not exist")
    try:
        ckpt = torch.load(p, map_location="cpu", weights_only=False)
    except Exception as e:
        raise InputError(f"checkpoint {p} is not readable: {type(e).__name__}") from None
    if not isinstance(ckpt, dict) or "model" not in ckpt or "train_config" not in ckpt:
        raise InputError(f"{p} is not a checkpoint written by hqvit train")
    return ckpt


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


def prepare(cfg: TrainConfig) -> tuple[Dataset, np.ndarray, np.ndarray]:
    ds = load_dataset(cfg.dataset, cfg.image)
    tr, te = split(ds, cfg.seed, cfg.limit)
    return ds, tr, te


def _use_noise(model: VisionTransformer, cfg: TrainConfig) -> None:
    from compiler.pipeline import compile_hqvit
    from targets import resolve_target

    if not cfg.target:
        raise InputError("--noise needs --target NAME (the device whose calibrated noise to train under)")
    if cfg.attention != "quantum" or cfg.backend != "qsim":
        raise InputError("--noise trains the quantum attention on qsim: use --attention quantum --backend qsim")
    if cfg.blocks != 1:
        raise InputError("--noise supports --blocks 1 (parameter shift on noisy trajectories, no data gradients)")
    if cfg.shots is not None:
        raise InputError("--noise and --shots cannot be combined; use --trajectories")
    if cfg.trajectories < 2:
        raise InputError(f"--trajectories must be >= 2, got {cfg.trajectories}")
    compiled = compile_hqvit(model.cfg.circuit, resolve_target(cfg.target), opt=2, seed=cfg.seed)
    model.use_noise(compiled, cfg.trajectories, cfg.seed)


def train(cfg: TrainConfig, resume: str | None = None, log=print) -> dict:
    if cfg.epochs < 1 or cfg.batch < 1 or not cfg.lr > 0:
        raise InputError("epochs and batch must be >= 1 and lr > 0")
    seed_everything(cfg.seed)
    ds, tr, te = prepare(cfg)
    mcfg = cfg.model_config(ds.classes)
    model = VisionTransformer(mcfg, backend=cfg.backend, shots=cfg.shots, seed=cfg.seed)
    if cfg.noise:
        _use_noise(model, cfg)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    start_epoch, history, train_seconds, samples = 0, [], 0.0, 0
    if resume:
        ckpt = load_checkpoint(resume)
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        start_epoch, history = ckpt["epoch"], ckpt["history"]
        train_seconds, samples = ckpt.get("train_seconds", 0.0), ckpt.get("train_samples", 0)
        torch.set_rng_state(ckpt["torch_rng"])
    out = Path(cfg.out)
    ckpt_path = out / CHECKPOINT_NAME
    x_tr, y_tr, x_te, y_te = ds.images[tr], ds.labels[tr], ds.images[te], ds.labels[te]
    loss_fn = nn.CrossEntropyLoss()
    t_start = time.perf_counter()
    interrupted = False
    try:
        for epoch in range(start_epoch, cfg.epochs):
            model.train()
            order = torch.randperm(len(y_tr), generator=torch.Generator().manual_seed(cfg.seed * 100003 + epoch))
            t0, total_loss = time.perf_counter(), 0.0
            bar = tqdm(
                range(0, len(order), cfg.batch), desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False, disable=None
            )
            for start in bar:
                idx = order[start : start + cfg.batch]
                opt.zero_grad()
                loss = loss_fn(model(x_tr[idx]), y_tr[idx])
                loss.backward()
                opt.step()
                total_loss += loss.item() * len(idx)
                samples += len(idx)
                bar.set_postfix(loss=f"{loss.item():.3f}")
            train_seconds += time.perf_counter() - t0
            tr_acc, te_acc = accuracy(model, x_tr, y_tr), accuracy(model, x_te, y_te)
            history.append(
                {"epoch": epoch + 1, "loss": total_loss / len(y_tr), "train_accuracy": tr_acc, "test_accuracy": te_acc}
            )
            log(f"epoch {epoch + 1}/{cfg.epochs}  loss {history[-1]['loss']:.4f} train {tr_acc:.4f} test {te_acc:.4f}")
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
    last = history[-1] if history else {"train_accuracy": None, "test_accuracy": None}
    return {
        "dataset": cfg.dataset,
        "attention": cfg.attention,
        "backend": cfg.backend if cfg.attention == "quantum" else None,
        "epochs": len(history),
        "train_samples": len(tr),
        "test_samples": len(te),
        "train_accuracy": last["train_accuracy"],
        "test_accuracy": last["test_accuracy"],
        "train_samples_per_s": samples / train_seconds if train_seconds else None,
        "seconds": round(time.perf_counter() - t_start, 3),
        "checkpoint": str(ckpt_path) if history else None,
        "interrupted": interrupted,
        "history": history,
    }


def evaluate(checkpoint: str, backend: str | None = None, shots: int | None = None) -> dict:
    ckpt = load_checkpoint(checkpoint)
    cfg = TrainConfig(
        **{
            **ckpt["train_config"],
            "image": tuple(ckpt["train_config"]["image"]),
            "patch": tuple(ckpt["train_config"]["patch"]),
        }
    )
    seed_everything(cfg.seed)
    ds, tr, te = prepare(cfg)
    mcfg = ModelConfig.from_dict(ckpt["model_config"])
    model = VisionTransformer(mcfg, backend=backend or cfg.backend, shots=shots, seed=cfg.seed)
    model.load_state_dict(ckpt["model"])
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
