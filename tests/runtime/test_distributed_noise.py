"""Noise studies split across ranks (``studies.noise_ranks``): bit for bit the single-process points.

The single-process reference runs in the test process; the ranks are forked from it afterwards
(inheriting its compiled kernels) and join a gloo group, as under ``torchrun``
(``test_distributed_train.run_ranks``). 20 test images in batches of 16: rank 0 evaluates
images 0-15, rank 1 images 16-19 (its trajectory seeds start at the 17th draw), a third rank
none; with shots each image samples from its own generator.
"""

from __future__ import annotations

import pytest
import torch

from hqvit.runtime.distributed import init
from hqvit.runtime.train import TrainConfig, train
from hqvit.studies.noise_study import compare, load_study, sweep
from tests.runtime.test_distributed_train import run_ranks, warm_imports  # noqa: F401 - the fixture

TIMINGS = ("seconds", "seconds_per_image")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("noise-ranks")
    train(
        TrainConfig(dataset="digits", limit=120, epochs=1, batch=16, backend="exact", out=str(out)), log=lambda m: None
    )
    return str(out / "checkpoint.pt")


def _sweep(checkpoint: str, shots: int | None) -> dict:
    setup = load_study(checkpoint, limit=20)
    return sweep(setup, "ionq-aria", [1.0], trajectories=4, shots=shots, seed=3, opt=1, ranks=init())


def _compare(checkpoint: str) -> dict:
    setup = load_study(checkpoint, limit=20)
    return compare(setup, ["ionq-aria"], trajectories=4, shots=None, seed=1, opt=1, ranks=init())


def _without_timings(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k not in TIMINGS} for row in rows]


@pytest.mark.parametrize(("world", "shots"), [(2, None), (3, 64)])
def test_a_sweep_on_several_ranks_gives_the_single_process_points(checkpoint, world, shots):
    one = _sweep(checkpoint, shots)  # here, so the forked ranks inherit the compiled kernels
    many = run_ranks(world, _sweep, checkpoint, shots)
    assert one["points"][0]["test_samples"] == 20  # more than one batch of 16: the ranks share them
    assert one["points"][0]["attention_abs_error"] > 0  # the point is noisy
    for result in many:  # every rank ends with the gathered points
        assert _without_timings(result["points"]) == _without_timings(one["points"])  # == on floats: bit for bit


def test_a_comparison_on_two_ranks_gives_the_single_process_rows(checkpoint):
    one = _compare(checkpoint)
    two = run_ranks(2, _compare, checkpoint)
    assert _without_timings(two[0]["targets"]) == _without_timings(one["targets"])


def _threads_now() -> tuple[int, int]:
    """(torch's threads, the largest BLAS pool's threads) of this process."""
    from threadpoolctl import threadpool_info

    return torch.get_num_threads(), max(p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas")


def test_a_study_runs_the_thread_rule_in_torch_and_blas_and_restores_them(checkpoint, monkeypatch):
    import hqvit.studies.noise_study as noise_study

    seen = []
    evaluate = noise_study.evaluate_with_dd

    def spy(*args, **kwargs):
        seen.append(_threads_now())
        return evaluate(*args, **kwargs)

    monkeypatch.setattr(noise_study, "evaluate_with_dd", spy)
    setup = load_study(checkpoint, limit=2)
    before = _threads_now()
    for env, threads in ((None, 1), ("2", 2)):  # the rule (one thread at 8 qubits), then OMP_NUM_THREADS
        if env is None:
            monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
        else:
            monkeypatch.setenv("OMP_NUM_THREADS", env)
        seen.clear()
        result = sweep(setup, "ionq-aria", [1.0], trajectories=2, shots=None, seed=0, opt=1)
        assert result["threads"] == threads and seen == [(threads, threads)]
        assert _threads_now() == before  # the caller's settings come back
