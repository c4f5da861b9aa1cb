"""Noise studies: scale 0 is the noiseless evaluation, noise never helps beyond trajectory error,
results survive Ctrl-C, bad input is one line.

The command-line cases call ``main`` in this process (tests/cli/test_cli.py ``call``); the
installed script's exit statuses and stderr in a fresh interpreter are test_cli's subprocess tests.
"""

import json
import math

import pytest
import torch

from hqvit.compiler.pipeline import compile_hqvit
from hqvit.runtime.train import TrainConfig, evaluate, train
from hqvit.studies import noise_study
from hqvit.studies.noise_study import evaluate_point, load_study, sweep
from hqvit.targets import resolve_target
from tests.cli.test_cli import assert_one_line_error, call, last_json


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("noise_ckpt")
    result = train(TrainConfig(limit=150, epochs=2, batch=16, seed=1, out=str(out)), log=lambda _: None)
    return result["checkpoint"]


@pytest.mark.parametrize("target", ["ionq-aria", "grid:4x4"])
def test_scale_zero_is_the_noiseless_evaluation(checkpoint, target):
    """Scale 0 runs through the same trajectory path as every other scale (noise model, template,
    readout flips, halves) and is measured against the noiseless reference, not assumed equal:
    a noise term that ignores the scale, or a wrong qubit or readout mapping, shows up here."""
    setup = load_study(checkpoint, None)
    compiled = compile_hqvit(setup.mcfg.circuit, resolve_target(target), opt=2)
    point = evaluate_point(setup, compiled, 0.0, trajectories=4, shots=None, seed=0)
    assert point["accuracy"] == evaluate(checkpoint)["test_accuracy"]
    assert point["attention_abs_error"] < 1e-5  # float32 trajectories vs the float32 binding path
    assert point["distribution_fidelity"] > 1 - 1e-5
    assert point["attention_trajectory_se"] < 1e-6 and point["trajectory_prediction_flips"] == 0


def test_more_noise_never_improves_attention_beyond_trajectory_error(checkpoint):
    setup = load_study(checkpoint, 6)
    result = sweep(setup, "ibm-torino", [0.0, 0.5, 1.0, 2.0], trajectories=16, shots=None, seed=0, opt=1)
    pts = result["points"]
    assert [p["scale"] for p in pts] == [0.0, 0.5, 1.0, 2.0]
    for a, b in zip(pts, pts[1:], strict=False):
        slack = 3 * math.hypot(a["attention_trajectory_se"], b["attention_trajectory_se"])
        assert b["attention_abs_error"] >= a["attention_abs_error"] - slack
        assert b["distribution_fidelity"] <= a["distribution_fidelity"] + 0.02
    assert pts[-1]["attention_abs_error"] > 0.01  # the noise is really there
    assert all(0 <= p["trajectory_prediction_flips"] <= 1 for p in pts[1:])


def test_interrupted_sweep_keeps_finished_points(checkpoint, monkeypatch):
    setup = load_study(checkpoint, 2)
    real = noise_study.evaluate_point
    calls = []

    def flaky(*args, **kwargs):
        if calls:
            raise KeyboardInterrupt
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(noise_study, "evaluate_point", flaky)
    seen = []
    result = sweep(setup, "ionq-aria", [0.0, 1.0, 2.0], 4, None, 0, 1, on_point=lambda r: seen.append(len(r["points"])))
    assert result["interrupted"] and len(result["points"]) == 1 and seen == [1]


def test_cli_sweep_and_compare_write_json_and_png(checkpoint, tmp_path, capsys):
    out = tmp_path / "noise"
    common = ["--checkpoint", checkpoint, "--limit", "3", "--trajectories", "4", "--out", str(out), "--json"]
    sweep_result = last_json(call(capsys, "noise-sweep", "--target", "ionq-aria", "--scales", "0,1", *common))
    assert [p["scale"] for p in sweep_result["points"]] == [0.0, 1.0]
    assert json.loads((out / "noise-sweep-ionq-aria.json").read_text())["points"] == sweep_result["points"]
    assert (out / "noise-sweep-ionq-aria.png").stat().st_size > 1000
    cmp = last_json(call(capsys, "noise-compare", "--targets", "ionq-aria,grid:3x4", *common))
    assert [r["target"] for r in cmp["targets"]] == ["ionq-aria", "grid:3x4"]
    for r in cmp["targets"]:
        assert r["two_qubit_gates"] > 0 and 0 < r["esp"] <= 1 and r["duration_ns"] > 0
    assert (out / "noise-compare.png").stat().st_size > 1000


def test_dd_gain_is_paired_with_the_no_dd_evaluation(checkpoint):
    """At scale 0 the DD circuit (identity pulses) must give exactly the no-DD figures: the DD
    variant really ran (it has DD gates) and is measured against the same reference. At
    calibrated noise on ibm-sherbrooke (60 kHz ZZ) the gain fields are the paired figures of the
    two evaluations (the ratio's interval is positive: the evaluations differ)."""
    setup = load_study(checkpoint, 3)
    result = sweep(setup, "ibm-sherbrooke", [0.0, 1.0], trajectories=8, shots=None, seed=0, opt=1, dd=["auto"])
    assert result["dd"] == ["auto"] and result["compiled_dd"]["auto"]["dd"]["gates"] > 0
    assert result["compiled_dd"]["auto"]["two_qubit_gates"] == result["compiled"]["two_qubit_gates"]
    zero, one = result["points"]
    d0 = zero["dd"]["auto"]
    assert not d0["same_circuit"] and d0["accuracy"] == zero["accuracy"]
    assert abs(d0["gain"]["fidelity_ratio"] - 1) < 1e-5 and abs(d0["gain"]["attention_error_change"]) < 1e-5
    assert d0["gain"]["prediction_changes"] == 0
    d1, g1 = one["dd"]["auto"], one["dd"]["auto"]["gain"]
    assert g1["fidelity_ratio"] == pytest.approx(d1["distribution_fidelity"] / one["distribution_fidelity"])
    assert g1["attention_error_change"] == pytest.approx(d1["attention_abs_error"] - one["attention_abs_error"])
    assert g1["accuracy_change"] == pytest.approx(d1["accuracy"] - one["accuracy"])
    assert 0 < g1["fidelity_ratio_ci95"] < 0.2 and g1["prediction_changes"] <= 1


@pytest.mark.parametrize("mode", ["xx", "xy4", "staggered", "auto"])
def test_dd_variant_is_the_same_model_without_noise(checkpoint, mode):
    """Each mode's DD circuit, evaluated at scale 0 through the trajectory path, gives the no-DD
    circuit's logits: the DD gates are identities (up to phase) and the variant is the same
    compile plus them, so a gain at scale > 0 is the noise's and nothing else's."""
    setup = load_study(checkpoint, 2)
    target = resolve_target("ibm-sherbrooke")
    base = compile_hqvit(setup.mcfg.circuit, target, opt=1)
    (variant,) = noise_study.compile_variants(setup.mcfg.circuit, target, 1, 0, [mode]).values()
    assert variant.dd["gates"] > 0
    raws = [{}, {}]
    for c, raw in zip((base, variant), raws, strict=True):
        evaluate_point(setup, c, 0.0, trajectories=2, shots=None, seed=0, raw=raw)
    assert torch.allclose(raws[0]["logits"], raws[1]["logits"], atol=1e-4)


def test_dd_that_inserts_nothing_reuses_the_evaluation(checkpoint):
    """Ions have no coherent idle noise: auto inserts no gate, the circuit is the same, and the
    no-DD evaluation stands for it (gain exactly nothing)."""
    setup = load_study(checkpoint, 2)
    result = sweep(setup, "ionq-aria", [1.0], trajectories=4, shots=None, seed=0, opt=1, dd=["auto"])
    d = result["points"][0]["dd"]["auto"]
    assert d["same_circuit"] and result["compiled_dd"]["auto"]["dd"]["gates"] == 0
    assert d["gain"]["fidelity_ratio"] == 1 and d["gain"]["attention_error_change"] == 0


def test_cli_compare_with_dd_reports_the_gain(checkpoint, tmp_path, capsys):
    out = tmp_path / "noise"
    common = ["--checkpoint", checkpoint, "--limit", "2", "--trajectories", "4", "--out", str(out)]
    cmp = last_json(
        call(capsys, "noise-compare", "--targets", "ibm-sherbrooke", "--dd", "xy4,auto,none", *common, "--json")
    )
    assert cmp["dd"] == ["xy4", "auto"]
    row = cmp["targets"][0]
    for mode in ("xy4", "auto"):
        d = row["dd"][mode]
        assert d["dd"]["mode"] == mode and d["dd"]["gates"] > 0 and 0 < d["esp"] < row["esp"]  # pulses cost ESP
        assert d["gain"]["fidelity_ratio"] > 0
    assert json.loads((out / "noise-compare.json").read_text())["targets"] == cmp["targets"]
    assert (out / "noise-compare.png").stat().st_size > 1000
    # the sweep's human lines on a 12-qubit grid with 60 kHz ZZ, where auto inserts pulses too:
    # the lines' format does not depend on the device, and building the noisy programs of the
    # routed 127-qubit one twice more would cost ~20 s
    zz_grid = "grid:3x4@zz=60"
    human = call(capsys, "noise-sweep", "--target", zz_grid, "--scales", "1", "--dd", "auto", *common).stdout
    assert "dd      auto: accuracy" in human and "fidelity" in human and " ± " in human


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--dd", "xy8"], "--dd"),
        (["--dd", ","], "--dd"),
        (["--scales", "0,x"], "--scales"),
        (["--scales", "-1"], "--scales"),
        (["--trajectories", "1"], "--trajectories"),
        (["--target", "nosuch"], "nosuch"),
    ],
)
def test_bad_sweep_input_is_one_line(checkpoint, args, needle, capsys):
    base = {"--target": "ionq-aria", "--scales": "0"}
    for k, v in zip(args[::2], args[1::2], strict=True):
        base[k] = v
    flat = [x for kv in base.items() for x in kv]
    proc = call(capsys, "noise-sweep", "--checkpoint", checkpoint, *flat, check=False)
    assert proc.returncode == 2
    assert_one_line_error(proc, needle)


def test_missing_checkpoint_is_one_line(tmp_path, capsys):
    proc = call(capsys, "noise-sweep", "--checkpoint", str(tmp_path / "none.pt"), "--target", "ionq-aria", check=False)
    assert proc.returncode == 2
    assert_one_line_error(proc, "does not exist")


def test_noisy_gradient_matches_noiseless_gradient_as_noise_vanishes():
    import numpy as np

    from hqvit.compiler.hqvit import HQViTConfig
    from hqvit.runtime.data import load_dataset
    from hqvit.runtime.encoding import data_bindings, tokens_from_images
    from hqvit.runtime.noisy_attention import NoisyAttention
    from hqvit.runtime.quantum_attention import QsimAttention

    cfg = HQViTConfig()
    compiled = compile_hqvit(cfg, resolve_target("ibm-torino"), opt=2)
    tokens = tokens_from_images(load_dataset("digits", (8, 8)).images[:1].double(), cfg)
    data, valid = data_bindings(tokens).numpy(), ((tokens**2).sum(-1) > 0).numpy()
    rng = np.random.default_rng(0)
    params = rng.uniform(-np.pi, np.pi, (1, len(cfg.trainable_symbols())))
    upstream = rng.normal(size=(1, 1, cfg.tokens, cfg.tokens))
    want, _ = QsimAttention(cfg, compiled).vjp(data, params, valid, upstream, False)
    noisy = NoisyAttention(cfg, compiled, 1e-9, trajectories=2)
    noisy.recording = False
    got, _ = noisy.vjp(data, params, valid, upstream, False)
    assert len(noisy.engine.train_slots) >= len(cfg.trainable_symbols())  # every occurrence is swept
    assert np.abs(got - want).max() < 1e-5 * max(1.0, np.abs(want).max())


def test_train_under_noise_writes_a_checkpoint(tmp_path, capsys):
    common = ["train", "--dataset", "digits", "--limit", "20", "--epochs", "1", "--batch", "8", "--json"]
    out = last_json(
        call(capsys, *common, "--target", "ionq-aria", "--noise", "--trajectories", "2", "--out", str(tmp_path))
    )
    assert out["epochs"] == 1 and out["checkpoint"]
    ev = last_json(call(capsys, "evaluate", "--checkpoint", out["checkpoint"], "--json"))
    assert 0 <= ev["test_accuracy"] <= 1


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--noise"], "--target"),
        (["--target", "ionq-aria"], "--noise"),
        (["--noise", "--target", "ionq-aria", "--blocks", "2"], "--blocks 1"),
        (["--noise", "--target", "nosuch"], "nosuch"),
    ],
)
def test_bad_noisy_training_input_is_one_line(args, needle, tmp_path, capsys):
    common = ["train", "--dataset", "digits", "--limit", "20", "--epochs", "1", "--out", str(tmp_path)]
    proc = call(capsys, *common, *args, check=False)
    assert proc.returncode == 2
    assert_one_line_error(proc, needle)
