"""The ablation's device-time rows (``hqvit ablate --device-shots``): the estimate of
studies/device_time.py for the trained models' circuit and split sizes, checked before training."""

from __future__ import annotations

import pytest

from hqvit.compiler.pipeline import compile_hqvit
from hqvit.ir.errors import InputError
from hqvit.runtime.train import TrainConfig
from hqvit.studies.ablation import AblationConfig, markdown, run_ablation
from hqvit.studies.device_time import Workload, estimate
from hqvit.targets import resolve_target

BASE = TrainConfig(dataset="digits", limit=60, epochs=1, batch=16, backend="exact", val=0.2, layers=1)


def test_ablation_reports_the_device_time_of_its_models(tmp_path):
    cfg = AblationConfig(
        BASE,
        attentions=("classical", "quantum"),
        seeds=(0,),
        device_shots=200,
        device_targets=("ionq-aria",),
        out=str(tmp_path),
    )
    result = run_ablation(cfg, log=lambda _: None)
    (row,) = result["device_time"]
    run = next(r for r in result["runs"] if r["attention"] == "quantum")
    assert (run["train_images"], run["test_images"]) == (38, 12)  # 60 images: 48 / 12, then 20 % validation
    compiled = compile_hqvit(BASE.model_config(10).circuit, resolve_target("ionq-aria"), opt=2, seed=0)
    assert row == estimate(compiled, Workload(38, 12, 1, "quantum"), 200)
    assert "| ionq-aria | 200 |" in markdown(result)


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"device_targets": ("ionq-aria",)}, "--device-shots"),
        ({"device_shots": 100}, "--device-targets"),
        ({"device_shots": 100, "device_targets": ("quantinuum-h2",)}, "no repetition delay"),
        ({"device_shots": 0, "device_targets": ("ionq-aria",)}, "--device-shots must be"),
        ({"device_shots": 100, "device_targets": ("ionq-aria",), "attentions": ("uniform",)}, "include quantum"),
    ],
)
def test_bad_device_options_are_refused_before_training(change, needle, tmp_path):
    with pytest.raises(InputError, match=needle):
        run_ablation(AblationConfig(BASE, out=str(tmp_path), **change), log=lambda _: None)
    assert not list(tmp_path.iterdir())
