"""``hqvit ablate`` under torchrun: 2 ranks give the single-process table.

Training splits each global batch across the ranks (DDP), so the parameters agree within
float32 rounding (``tests/runtime/test_distributed_train.py``), and the noisy row splits the test
images with each image's own trajectory seed; the accuracies are the same counts, the attention
error the same within that rounding.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hqvit.runtime.distributed import init
from hqvit.runtime.noisy_attention import NoisyAttention
from hqvit.runtime.train import TrainConfig
from hqvit.studies.ablation import AblationConfig, run_ablation
from tests.runtime.test_distributed_train import run_ranks, warm_imports  # noqa: F401 - the fixture

BASE = TrainConfig(dataset="digits", limit=100, epochs=1, batch=16, backend="exact")


def _ablate(out: str) -> tuple[dict, int]:
    """The ablation's result and how many images this process ran noisy trajectories for."""
    cfg = AblationConfig(
        BASE, attentions=("quantum",), seeds=(0,), noisy_targets=("ionq-aria",), trajectories=2, noisy_limit=18, out=out
    )
    simulated = [0]
    forward = NoisyAttention.forward

    def counting(self, data, *args, **kwargs):
        if self.replay is None:  # the replays of the two halves simulate nothing
            simulated[0] += data.shape[0]
        return forward(self, data, *args, **kwargs)

    NoisyAttention.forward = counting
    try:
        return run_ablation(cfg, log=lambda m: None, ranks=init()), simulated[0]
    finally:
        NoisyAttention.forward = forward


def _comparable(result: dict) -> dict:
    runs = [{k: v for k, v in r.items() if k not in ("checkpoint", "train_samples_per_s")} for r in result["runs"]]
    return {"runs": runs, "noisy": result["noisy"]}


def test_an_ablation_on_two_ranks_gives_the_single_process_table(tmp_path):
    result, simulated = _ablate(str(tmp_path / "one"))
    one = _comparable(result)
    two, shares = zip(*run_ranks(2, _ablate, str(tmp_path / "two")), strict=True)
    assert (simulated, shares) == (18, (16, 2))  # the ranks split the images in whole batches of 16
    assert one["noisy"][0]["test_samples"] == 18  # more than one batch of 16: the ranks share them
    assert (tmp_path / "two" / "quantum-seed0" / "checkpoint.pt").exists()
    for result in two:  # every rank ends with the gathered table
        got = _comparable(result)
        assert got["runs"] == one["runs"]
        for mine, theirs in zip(got["noisy"], [dict(p) for p in one["noisy"]], strict=True):
            error = mine.pop("attention_abs_error")
            assert error == pytest.approx(theirs.pop("attention_abs_error"), abs=1e-4)
            assert mine == theirs  # accuracies, intervals, the compiled circuit: the same
    assert Path(two[0]["runs"][0]["checkpoint"]).parent.name == "quantum-seed0"
