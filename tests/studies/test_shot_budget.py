"""Shot budgets (studies/shot_budget.py, ``hqvit shots``): the sampled distribution is the circuit's,
estimates converge to the exact S as shots grow, the shots needed are reported, bad input is one line."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from hqvit.compiler.hqvit import HQViTConfig
from hqvit.ir.errors import InputError
from hqvit.runtime.exact import exact_attention
from hqvit.runtime.quantum_attention import QsimAttention
from hqvit.runtime.train import TrainConfig, evaluate, train
from hqvit.studies.shot_budget import ShotConfig, exact_joint, markdown, plot, run_shots, shots_needed


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("shots_ckpt")
    cfg = TrainConfig(limit=150, epochs=2, batch=16, seed=1, backend="exact", blocks=2, heads=2, out=str(out))
    return train(cfg, log=lambda _: None)["checkpoint"]


def test_the_sampled_distribution_is_the_compiled_circuits():
    """The closed-form P(a, i, j) the study samples equals qsim's readout of the compiled circuit,
    so sampling it is sampling the device's noiseless outcomes."""
    cfg = HQViTConfig((8, 8), (4, 4), 1, 2)
    backend = QsimAttention(cfg, gradient="shift")
    ex = backend.executor
    rng = np.random.default_rng(3)
    tokens = torch.from_numpy(rng.random((2, cfg.tokens, cfg.features)))
    tokens[0, 1] = 0.0  # a token that is never observed
    params = torch.from_numpy(rng.uniform(-math.pi, math.pi, (cfg.heads, len(cfg.trainable_symbols()))))
    s, _ = exact_attention(tokens, params, cfg)
    want = exact_joint(tokens, s).numpy()
    from hqvit.runtime.encoding import data_bindings

    data = data_bindings(tokens)
    for b in range(2):
        state = ex.prefix_state(ex.prefix.table.bind(ex.symbol_vector(data[b], params[0].numpy())))
        got = backend.readout.joint(ex.suffix_probabilities(state, backend._suffix_angles(data[b], params.numpy())))
        np.testing.assert_allclose(got, want[b], atol=2e-6)


def test_estimates_converge_to_the_exact_scores(checkpoint):
    """Above the regime where token pairs go unobserved, more shots never increase |dS| beyond
    sampling error, |dS| falls about as 1/sqrt(shots) (x10 shots: /sqrt(10)), and at 10^7 shots the
    accuracy is the exact one."""
    result = run_shots(ShotConfig(checkpoint, shots=(1000, 10000, 100000, 10**7), seeds=3), log=lambda _: None)
    assert result["exact_accuracy"] == evaluate(checkpoint, backend="exact")["test_accuracy"]
    pts = result["points"]
    for a, b in zip(pts, pts[1:], strict=False):
        slack = 3 * math.hypot(a["abs_ds_std"], b["abs_ds_std"])
        assert b["abs_ds_mean"] <= a["abs_ds_mean"] + slack
    ratio = pts[0]["abs_ds_mean"] / pts[1]["abs_ds_mean"]
    assert 2.0 < ratio < 4.5, ratio  # sqrt(10) = 3.16
    assert pts[-1]["abs_ds_mean"] < 2e-3
    assert abs(pts[-1]["accuracy_mean"] - result["exact_accuracy"]) <= 1 / result["test_images"]
    assert result["circuits_per_image"] == 4 and pts[0]["shots_per_image"] == 4000
    assert len(pts[0]["abs_ds_per_block"]) == 2 and pts[-1]["unobserved_tokens"] <= pts[0]["unobserved_tokens"]
    assert result["shots_needed"] is not None and result["shots_needed"] <= 10**7


def test_shots_needed_is_the_first_budget_from_which_all_stay_within():
    pts = [
        {"shots": n, "accuracy_drop_mean": d, "accuracy_drop_ci95": [d - 0.01, d + hi]}
        for n, d, hi in [(10, 0.05, 0.01), (100, 0.005, 0.01), (1000, 0.02, 0.01), (10**4, 0.004, 0.001)]
    ]
    assert shots_needed(pts, 0.01) == {"shots_needed": 10**4, "shots_needed_ci95": 10**4}
    pts[2]["accuracy_drop_mean"] = 0.0
    assert shots_needed(pts, 0.01)["shots_needed"] == 100
    assert shots_needed(pts[:1], 0.01) == {"shots_needed": None, "shots_needed_ci95": None}


def test_the_command_writes_json_markdown_and_png(checkpoint, tmp_path, capsys):
    from hqvit.cli.main import main

    code = main(["shots", "--checkpoint", checkpoint, "--shots", "300,3000", "--seeds", "2", "--limit", "20"])
    code_json = main(
        ["shots", "--checkpoint", checkpoint, "--shots", "300", "--seeds", "2", "--out", str(tmp_path), "--json"]
    )
    out = capsys.readouterr().out
    assert code == 0 == code_json
    result = json.loads(out.strip().splitlines()[-1])
    assert result == json.loads((tmp_path / "shots.json").read_text())
    assert (tmp_path / "shots.png").stat().st_size > 0
    assert "Shots needed to stay within 1 point" in (tmp_path / "shots.md").read_text()
    assert "| 300 | 1200 |" in markdown(result)
    plot(result, tmp_path / "again.png")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--shots", "100,abc"], "--shots"),
        (["--shots", "0,100"], "--shots"),
        (["--shots", "100,100"], "--shots"),
        (["--seeds", "0"], "--seeds"),
        (["--limit", "0"], "--limit"),
        (["--tolerance", "-1"], "--tolerance"),
    ],
)
def test_bad_input_is_one_line_exit_2(checkpoint, args, needle, capsys, tmp_path):
    from hqvit.cli.main import main

    assert main(["shots", "--checkpoint", checkpoint, "--out", str(tmp_path / "o"), *args]) == 2
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("hqvit: error:") and needle in lines[0], lines
    assert not (tmp_path / "o").exists()


def test_a_classical_checkpoint_or_missing_file_is_refused(tmp_path):
    out = tmp_path / "c"
    train(TrainConfig(limit=60, epochs=1, attention="classical", out=str(out)), log=lambda _: None)
    with pytest.raises(InputError, match="classical attention"):
        run_shots(ShotConfig(str(out / "checkpoint.pt")), log=lambda _: None)
    with pytest.raises(InputError, match="does not exist"):
        run_shots(ShotConfig(str(tmp_path / "none.pt")), log=lambda _: None)
