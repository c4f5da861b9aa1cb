"""Full MNIST from IDX files through the shot-budget and device-time commands: 28x28 train and
t10k files, zero-padded to 32x32 (the issue's 32x32 setting), train -> shots -> compile --shots."""

from __future__ import annotations

import json

import numpy as np

from hqvit.cli.main import main
from tests.idx_files import write_idx, write_mnist_dir


def _last_json(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_idx_mnist_at_32x32_trains_samples_shots_and_estimates_device_time(tmp_path, capsys):
    rng = np.random.default_rng(5)
    images = np.zeros((50, 28, 28), dtype=np.uint8)
    images[:, 6:22, 6:22] = rng.integers(0, 256, size=(50, 16, 16), dtype=np.uint8)  # MNIST-like: a dark border
    labels = np.arange(50) % 10
    data = write_mnist_dir(tmp_path / "mnist", images[:40], labels[:40])
    write_idx(data / "t10k-images-idx3-ubyte", images[40:])
    write_idx(data / "t10k-labels-idx1-ubyte", labels[40:].astype(np.uint8))
    spec = f"idx:{data}"
    common = ["--dataset", spec, "--image", "32x32", "--patch", "8x8", "--layers", "1"]
    out = tmp_path / "run"
    train_args = ["train", *common, "--backend", "exact", "--epochs", "1", "--batch", "16", "--out", str(out)]
    assert main([*train_args, "--json"]) == 0
    trained = _last_json(capsys)
    assert trained["train_samples"] + trained["test_samples"] == 50  # train and t10k files both read
    ckpt = str(out / "checkpoint.pt")
    shots = ["shots", "--checkpoint", ckpt, "--shots", "100,100000", "--seeds", "2", "--out", str(tmp_path / "s")]
    assert main([*shots, "--json"]) == 0
    result = _last_json(capsys)
    assert result["image"] == [32, 32] and result["test_images"] == 10
    assert result["points"][1]["abs_ds_mean"] < result["points"][0]["abs_ds_mean"]
    compile_args = ["compile", *common, "--target", "ionq-aria", "--shots", "10", "--opt", "0", "--json"]
    assert main(compile_args) == 0
    device = _last_json(capsys)["device_time"]
    assert (device["train_images"], device["test_images"]) == (40, 10)
