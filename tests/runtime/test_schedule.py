"""Training options of the model search: a cosine learning-rate schedule that a resumed run
continues, and the MLP width and initial temperature reaching the model."""

from __future__ import annotations

import math

import pytest
import torch

from hqvit.ir.errors import InputError
from hqvit.runtime.train import TrainConfig, train


def _lr(path) -> float:
    return torch.load(path, weights_only=True)["optimizer"]["param_groups"][0]["lr"]


def test_cosine_schedule_decays_per_step_and_resumes(tmp_path):
    common = dict(limit=64, batch=16, backend="exact", lr=0.02, schedule="cosine", mlp_ratio=2, temperature=0.3)
    full = train(TrainConfig(epochs=2, out=str(tmp_path / "a"), **common), log=lambda _: None)
    steps = math.ceil(51 / 16)  # 64 images, 80 % for training, batches of 16
    last = 0.02 * 0.5 * (1 + math.cos(math.pi * (2 * steps - 1) / (2 * steps)))
    assert _lr(full["checkpoint"]) == pytest.approx(last)
    half = train(TrainConfig(epochs=1, out=str(tmp_path / "b"), **common), log=lambda _: None)
    resumed = train(TrainConfig(epochs=2, out=str(tmp_path / "b"), **common), resume=half["checkpoint"], log=print)
    assert _lr(resumed["checkpoint"]) == pytest.approx(last)
    model = torch.load(full["checkpoint"], weights_only=True)
    assert model["model_config"]["mlp_ratio"] == 2 and model["model_config"]["temperature"] == 0.3
    assert model["model"]["blocks.0.mlp.0.weight"].shape == (32, 16)


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [("schedule", "step", "--schedule"), ("mlp_ratio", 0, "--mlp-ratio"), ("temperature", -1.0, "--temperature")],
)
def test_bad_training_options_name_the_argument(field, value, needle):
    with pytest.raises(InputError, match=needle):
        TrainConfig(**{field: value}).validate()
