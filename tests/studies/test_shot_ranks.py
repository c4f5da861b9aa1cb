"""``hqvit shots`` split across ranks: every figure is the single-process one, bit for bit.

The ranks are forked from the test process and join a gloo group as under ``torchrun``
(``tests.runtime.test_distributed_train.run_ranks``). Batches of 8 test images, so 2 and 3
ranks each evaluate whole batches of their own and each image's shots come from its own seed.
"""

from __future__ import annotations

import pytest

from hqvit.runtime.distributed import init
from hqvit.runtime.train import TrainConfig, train
from hqvit.studies.shot_budget import ShotConfig, run_shots
from tests.runtime.test_distributed_train import run_ranks, warm_imports  # noqa: F401 - the fixture


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("shot-ranks")
    cfg = TrainConfig(limit=150, epochs=1, batch=16, seed=1, backend="exact", blocks=2, heads=2, out=str(out))
    train(cfg, log=lambda m: None)
    return str(out / "checkpoint.pt")


def _shots(checkpoint: str) -> dict:
    cfg = ShotConfig(checkpoint, shots=(30, 300), seeds=2, batch=8)
    result = run_shots(cfg, log=lambda m: None, ranks=init())
    result.pop("seconds")
    return result


@pytest.mark.parametrize("world", [2, 3])
def test_shots_on_several_ranks_give_the_single_process_result(checkpoint, world):
    one = _shots(checkpoint)
    assert one["test_images"] > 2 * 8  # more than two batches: every rank has images
    assert one["points"][0]["abs_ds_mean"] > 0  # the scores are sampled
    for result in run_ranks(world, _shots, checkpoint):  # every rank ends with the gathered result
        assert result == one  # == on floats: bit for bit
