"""Checkpoints: written atomically, read without ever running code, guarded by an output lock.

A checkpoint holds only plain data (tensors, numbers, strings, lists, dicts): the model and
optimizer state dicts, the history and both configurations as dicts. It is read with
``torch.load(weights_only=True)``, whose unpickler refuses every global that is not a tensor
type, so a checkpoint shared by somebody else cannot execute code when it is loaded.
"""

from __future__ import annotations

import fcntl
import os
import pickle
import re
import tempfile
from pathlib import Path

import torch

from hqvit.ir.errors import InputError

CHECKPOINT_NAME = "checkpoint.pt"
LOCK_NAME = ".hqvit-train.lock"


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


_GLOBAL = re.compile(r"(?:Unsupported global|Trying to load unsupported GLOBAL)[: ]*(?:GLOBAL )?([\w.]+)")


def load_checkpoint(path: str | Path, quantized: bool = False) -> dict:
    """The checkpoint's dict; one InputError if it is missing, unreadable, asks to run code, or
    was not written by ``hqvit train`` (or, with ``quantized``, by ``hqvit quantize --save``)."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"checkpoint {p} does not exist")
    try:
        ckpt = torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        found = _GLOBAL.search(str(e))
        if found is None:
            raise InputError(f"checkpoint {p} is not readable: not a checkpoint file") from None
        raise InputError(
            f"checkpoint {p} is refused: it is not plain data and loading it could run code "
            f"(it references {found.group(1)})"
        ) from None
    except Exception as e:
        raise InputError(f"checkpoint {p} is not readable: {type(e).__name__}") from None
    if not isinstance(ckpt, dict) or not {"model", "train_config", "model_config", "epoch"} <= set(ckpt):
        raise InputError(f"{p} is not a checkpoint written by hqvit train")
    if "quantization" in ckpt and not quantized:
        raise InputError(f"checkpoint {p} is quantized (hqvit quantize --save): only hqvit evaluate runs it")
    return ckpt


class OutputLock:
    """An exclusive lock on a training's output directory for as long as the training runs.

    ``flock`` is released by the kernel when the process ends however it ends (SIGKILL
    included), so a crashed run never leaves a stale lock; the file holds the owner's PID so a
    second run can say who holds it.
    """

    def __init__(self, directory: Path):
        self.path = directory / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> OutputLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise InputError(
                f"--out {self.path.parent} is in use by another training (PID {holder}); "
                "wait for it or choose another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> OutputLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
