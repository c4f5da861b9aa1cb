"""The attention ablation study (studies/ablation.py): every variant trained with the same command
and seeds, mean ± std over the seeds, the quantum models also under noise, bad options refused."""

from __future__ import annotations

import numpy as np
import pytest

from hqvit.ir.errors import InputError
from hqvit.runtime.train import TrainConfig
from hqvit.studies.ablation import AblationConfig, markdown, plot, run_ablation

BASE = TrainConfig(dataset="digits", limit=60, epochs=1, batch=16, backend="exact", val=0.2)


def test_every_variant_and_seed_is_trained_and_summarized(tmp_path):
    cfg = AblationConfig(
        BASE, seeds=(0, 1), noisy_targets=("ionq-aria",), trajectories=2, noisy_limit=2, out=str(tmp_path)
    )
    updates = []
    result = run_ablation(cfg, log=lambda _: None, on_update=lambda r: updates.append(len(r["runs"])))
    assert [(r["attention"], r["seed"]) for r in result["runs"]] == [
        (a, s) for a in ("quantum", "classical", "uniform", "frozen") for s in (0, 1)
    ]
    assert updates[:8] == list(range(1, 9))  # written after every run
    for row in result["summary"][:4]:
        accs = [r["test_accuracy"] for r in result["runs"] if r["attention"] == row["variant"]]
        assert row["test_accuracy_mean"] == pytest.approx(np.mean(accs))
        assert row["test_accuracy_std"] == pytest.approx(np.std(accs, ddof=1))
        assert row["val_accuracy_mean"] is not None
    counts = {r["variant"]: r["parameters"]["attention_scores"] for r in result["summary"][:4]}
    assert counts["uniform"] == 0 < counts["frozen"] < counts["quantum"] < counts["classical"]
    (noisy,) = [r for r in result["summary"] if r["variant"].startswith("quantum, noisy")]
    assert noisy["seeds"] == 2 and noisy["test_images"] == 2 and 0 <= noisy["test_accuracy_mean"] <= 1
    assert 0 <= noisy["noiseless_same_images_mean"] <= 1
    assert "quantum, noisy on ionq-aria" in markdown(result)
    plot(result, tmp_path / "a.png")
    assert (tmp_path / "a.png").stat().st_size > 0


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"attentions": ("quantum", "hybrid")}, "--attentions"),
        ({"seeds": (1, 1)}, "--seeds"),
        ({"noisy_targets": ("no-such-device",)}, "no-such-device"),
        ({"noisy_targets": ("ionq-aria",), "attentions": ("classical",)}, "--noisy-targets"),
        ({"trajectories": 1}, "--trajectories"),
    ],
)
def test_bad_options_are_refused_before_training(change, needle, tmp_path):
    cfg = AblationConfig(BASE, out=str(tmp_path), **change)
    with pytest.raises(InputError, match=needle):
        run_ablation(cfg, log=lambda _: None)
    assert not list(tmp_path.iterdir())


def test_the_command_writes_the_table_and_refuses_bad_seeds(tmp_path, capsys):
    from hqvit.cli.main import main

    out = tmp_path / "abl"
    argv = ["ablate", "--limit", "40", "--epochs", "1", "--backend", "exact", "--attentions", "classical,uniform"]
    assert main([*argv, "--seeds", "0,1", "--out", str(out), "--json"]) == 0
    assert {p.name for p in out.iterdir()} >= {"ablation.json", "ablation.md", "ablation.png"}
    assert "| uniform | 2 |" in (out / "ablation.md").read_text()
    capsys.readouterr()
    assert main([*argv, "--seeds", "0,x", "--out", str(tmp_path / "b")]) == 2
    assert "--seeds" in capsys.readouterr().err


def test_ablate_target_lists_keep_each_targets_overrides():
    from hqvit.cli.ablate import _targets

    assert _targets("ibm-torino@zz=0,t2star_ratio=1,willow105") == ("ibm-torino@zz=0,t2star_ratio=1", "willow105")
    assert _targets(None) == ()
