"""Device-time estimates (studies/device_time.py, ``hqvit compile --shots``): the closed form
executions x shots x (schedule + readout + repetition delay), the shift counts of the qsim
gradient path, the per-target repetition delay, and one clear line when it is unknown."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hqvit.compiler.hqvit import HQViTConfig
from hqvit.compiler.pipeline import compile_hqvit
from hqvit.ir.errors import InputError
from hqvit.runtime.quantum_attention import QsimAttention
from hqvit.studies.device_time import Workload, angle_slots, estimate
from hqvit.targets import resolve_target

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ibm"
CFG = HQViTConfig((8, 8), (4, 4), 1, 2)


@pytest.fixture(scope="module")
def compiled():
    return compile_hqvit(CFG, resolve_target("ionq-aria"), opt=1)


def test_estimate_is_the_closed_form(compiled):
    """2 blocks, 2 heads, 7 training and 3 test images at 50 shots, computed by hand."""
    target = compiled.target
    est = estimate(compiled, Workload(train_images=7, test_images=3, blocks=2), shots=50)
    g_t, g_d = est["trainable_slots"], est["data_slots"]
    assert g_t == 2 * CFG.layers * CFG.feature_qubits  # one rotation per ansatz angle (ions: any rotation native)
    per_train = 2 * 2 + 2 * g_t * 2 * 2 + 2 * g_d * 2 * 1
    shot = (compiled.success_probability()["duration_ns"] + target.durations_ns["measure"]) * 1e-9 + 25e-6
    assert est["epoch_executions"] == 7 * per_train
    assert est["evaluation_executions"] == 3 * 4
    assert est["epoch_seconds"] == pytest.approx(7 * per_train * 50 * shot, rel=1e-12)
    assert est["evaluation_seconds"] == pytest.approx(12 * 50 * shot, rel=1e-12)
    frozen = estimate(compiled, Workload(7, 3, blocks=1, attention="frozen"), shots=50)
    assert frozen["executions_per_image"]["training"] == 2  # forward only: nothing is shifted


def test_slots_are_the_ones_the_shift_gradient_shifts(compiled):
    backend = QsimAttention(CFG, compiled, gradient="shift")
    assert angle_slots(compiled) == {
        "trainable_slots": len(backend.suffix_slots),
        "data_slots": len(backend.prefix_slots),
    }


def test_repetition_delays_per_target(tmp_path):
    assert resolve_target("ibm-torino").rep_delay_us == 250.0  # conf_torino.json default_rep_delay
    assert resolve_target("ionq-aria").rep_delay_us == 25.0
    assert resolve_target("quantinuum-h2").rep_delay_us is None
    conf = json.loads((FIXTURES / "conf_tiny_cz.json").read_text())
    props = FIXTURES / "props_tiny_cz.json"
    for value, want in [(123.5, 123.5), (None, None)]:
        conf.pop("default_rep_delay", None)
        if value is not None:
            conf["default_rep_delay"] = value
        (tmp_path / "c.json").write_text(json.dumps(conf))
        t = resolve_target(f"ibm:{tmp_path}/c.json,{props}")
        assert t.rep_delay_us == want
        assert ("default_rep_delay" in t.rep_delay_source) and (("no " in t.rep_delay_source) == (want is None))
    conf["default_rep_delay"] = "soon"
    (tmp_path / "c.json").write_text(json.dumps(conf))
    with pytest.raises(InputError, match="default_rep_delay"):
        resolve_target(f"ibm:{tmp_path}/c.json,{props}")


def test_a_target_without_a_delay_is_one_clear_error():
    compiled = compile_hqvit(CFG, resolve_target("line:12"), opt=0)
    with pytest.raises(InputError, match="target line:12 has no repetition delay"):
        estimate(compiled, Workload(1, 1), shots=10)


def test_compile_reports_the_estimate(capsys):
    from hqvit.cli.main import main

    args = ["compile", "--target", "ionq-aria", "--layers", "1", "--heads", "2", "--shots", "100", "--limit", "50"]
    assert main([*args, "--json"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["device_time"]
    assert report["train_images"] == 40 and report["test_images"] == 10 and report["shots"] == 100
    assert report["evaluation_executions"] == 10 * 2
    assert main([*args, "--val", "0.25", "--json"]) == 0  # the training images left after the hold-out
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["device_time"]["train_images"] == 30
    assert main(args) == 0
    human = capsys.readouterr().out
    assert "one training epoch (40 images, parameter shift)" in human and "repetition delay 25 µs" in human


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--target", "quantinuum-h2", "--shots", "10"], "no repetition delay"),
        (["--shots", "10"], "--target"),
        (["--target", "ionq-aria", "--shots", "0"], "--shots"),
        (["--target", "ionq-aria", "--shots", "10", "--blocks", "0"], "--blocks"),
        (["--target", "ionq-aria", "--shots", "10", "--val", "0.9"], "--val"),
    ],
)
def test_bad_device_time_input_is_one_line(args, needle, capsys, monkeypatch):
    from hqvit.cli.main import main
    from hqvit.compiler import pipeline

    def no_compile(*a, **k):
        raise AssertionError("compiled before the input was checked")

    monkeypatch.setattr(pipeline, "compile_hqvit", no_compile)
    assert main(["compile", *args]) == 2
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("hqvit: error:") and needle in lines[0], lines
