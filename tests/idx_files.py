"""Write small MNIST-format IDX files for the tests."""

import gzip
from pathlib import Path

import numpy as np

_CODES = {np.dtype(np.uint8): 0x08, np.dtype(">f4"): 0x0D}


def write_idx(path: Path, array: np.ndarray, compress: bool = False) -> Path:
    arr = np.ascontiguousarray(array)
    if arr.dtype == np.float32:
        arr = arr.astype(">f4")
    header = bytes([0, 0, _CODES[arr.dtype], arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    data = header + arr.tobytes()
    if compress:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return path


def write_mnist_dir(directory: Path, images: np.ndarray, labels: np.ndarray, compress: bool = False) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    write_idx(directory / "train-images-idx3-ubyte", images, compress)
    write_idx(directory / "train-labels-idx1-ubyte", labels.astype(np.uint8), compress)
    return directory
