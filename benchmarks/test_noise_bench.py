"""Seconds per noise-sweep point (``hqvit noise-sweep``), digits model, 16 test images.

``extra_info`` holds seconds per point and per image for each target and trajectory count, so a
full sweep's cost can be read off: points x test images x seconds per image.
"""

import pytest

from hqvit.compiler.pipeline import compile_hqvit
from hqvit.runtime.train import TrainConfig, train
from hqvit.studies.noise_study import evaluate_point, load_study
from hqvit.targets import resolve_target

IMAGES = 16


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench_noise")
    ckpt = train(TrainConfig(limit=200, epochs=2, out=str(out)), log=lambda _: None)["checkpoint"]
    return load_study(ckpt, IMAGES)


@pytest.mark.parametrize("trajectories", [8, 32])
@pytest.mark.parametrize("target", ["ionq-aria", "sycamore23", "ibm-torino"])
def test_noise_sweep_point(benchmark, setup, target, trajectories):
    compiled = compile_hqvit(setup.mcfg.circuit, resolve_target(target), opt=2)
    point = benchmark.pedantic(
        lambda: evaluate_point(setup, compiled, 1.0, trajectories, None, 0), rounds=1, warmup_rounds=0
    )
    seconds = benchmark.stats.stats.mean
    benchmark.extra_info.update(
        seconds_per_point=round(seconds, 2),
        seconds_per_image=round(seconds / IMAGES, 3),
        attention_abs_error=round(point["attention_abs_error"], 4),
    )
