"""``--val``: a seeded, stratified part of the training split, disjoint from the test split, judges
the epochs; the test split is read once, after the last one."""

from __future__ import annotations

import numpy as np

from hqvit.runtime import train as train_module
from hqvit.runtime.train import TrainConfig, prepare, train, validation_split


def test_validation_is_a_stratified_part_of_the_training_split():
    cfg = TrainConfig(limit=300, val=0.25, seed=3)
    ds, tr, te = prepare(cfg)
    fit, va = validation_split(ds, tr, cfg)
    assert set(fit) | set(va) == set(tr) and not set(fit) & set(va) and not set(va) & set(te)
    assert abs(len(va) - 0.25 * len(tr)) <= 1
    y = ds.labels.numpy()
    assert set(np.unique(y[va])) == set(np.unique(y[tr]))  # every class in the validation part
    again, va_again = validation_split(ds, tr, cfg)
    assert np.array_equal(va, va_again)
    assert len(validation_split(ds, tr, TrainConfig(limit=300))[1]) == 0


def test_with_val_the_epochs_never_read_the_test_split(tmp_path, monkeypatch):
    reads = []
    real = train_module.accuracy
    monkeypatch.setattr(train_module, "accuracy", lambda m, x, y, *a, **k: reads.append(len(y)) or real(m, x, y))
    cfg = TrainConfig(limit=100, val=0.2, epochs=2, backend="exact", out=str(tmp_path / "run"))
    result = train(cfg, log=lambda _: None)
    assert all("val_accuracy" in h and "test_accuracy" not in h for h in result["history"])
    assert reads.count(result["test_samples"]) == 1 and reads[-1] == result["test_samples"]
    assert result["val_samples"] + result["train_samples"] == 80 and result["test_accuracy"] is not None
