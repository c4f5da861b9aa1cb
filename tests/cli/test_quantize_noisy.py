"""``hqvit quantize --target``: the angle settings under a device's calibrated noise, as a user
runs it (the tiny one-epoch digits model of ``test_quantize``, a dozen test images)."""

import json
import math
from pathlib import Path

import pytest

from hqvit.cli.main import main
from tests.cli.test_quantize import trained  # noqa: F401  (the module-scoped checkpoint fixture)
from tests.cli.test_robustness import one_error_line, run_cli

FAST = ["--weight-bits", "8", "--act-bits", "8", "--angle-bits", "6,3", "--samples", "4", "--calibration", "20"]
FAST += ["--limit", "12", "--trajectories", "4", "--target", "ibm-torino", "--json"]


def _sweep(checkpoint: Path, out: Path, *extra: str) -> dict:
    assert main(["quantize", "--checkpoint", str(checkpoint), *FAST, "--out", str(out), *extra]) == 0
    return json.loads((out / "quantize.json").read_text())


@pytest.fixture(scope="module")
def noisy(trained, tmp_path_factory) -> tuple[dict, Path]:  # noqa: F811
    out = tmp_path_factory.mktemp("noisy")
    return _sweep(trained, out), out


def test_target_adds_the_noisy_rows(noisy):
    result, out = noisy
    info = result["noisy"]
    assert info["target"] == "ibm-torino" and info["trajectories"] == 4 and info["noise_scale"] == 1.0
    assert info["compiled"]["two_qubit_gates"] > 0
    ref = info["reference"]
    assert ref["part"] == "noisy full precision" and ref["test_samples"] == 12
    rows = {(p["part"], p["bits"]): p for p in result["points"]}
    for mode in ("round", "interpolate"):
        for bits in (6, 3):
            p = rows[(f"noisy angles ({mode})", bits)]
            assert p["settings"]["angle_bits"] == bits and p["settings"]["angle_mode"] == mode
            assert 0 <= p["accuracy"] <= 1 and p["attention_trajectory_se"] is not None
            if mode == "round":
                assert 0 < p["distribution_fidelity"] <= 1 + 1e-9
            else:  # a signed weighted estimate is not a distribution
                assert p["distribution_fidelity"] is None
    assert "sampling_overhead" in rows[("noisy angles (interpolate)", 3)]
    # ibm-torino's noise (ESP about 0.02) moves S more than 6-bit rounding does
    noiseless = rows[("angles (round)", 6)]["attention_score_error"]
    assert ref["attention_score_error"] > 2 * noiseless
    assert rows[("noisy angles (round)", 6)]["attention_score_error"] > 2 * noiseless
    md = (out / "quantize.md").read_text()
    assert "Under ibm-torino noise" in md and "| 3 bits, interpolate |" in md and "| full precision |" in md
    assert (out / "quantize.png").stat().st_size > 1000


def test_noise_scale_zero_reproduces_the_noiseless_rows(trained, noisy, tmp_path):  # noqa: F811
    """Scale 0 inserts no channel: the noisy reference is the full-precision model, each rounded
    row is the noiseless rounded row (the target's grid settings are the same rotations), and
    interpolation differs only by its own sampling error (4 draws either way)."""
    result = _sweep(trained, tmp_path, "--noise-scale", "0")
    ref = result["noisy"]["reference"]
    assert ref["accuracy"] == result["reference"]["accuracy"] and ref["agreement"] == 1.0
    assert ref["attention_score_error"] < 1e-6
    rows = {(p["part"], p["bits"]): p for p in result["points"]}
    for bits in (6, 3):
        quiet, loud = rows[("angles (round)", bits)], rows[("noisy angles (round)", bits)]
        assert loud["accuracy"] == quiet["accuracy"] and loud["agreement"] == quiet["agreement"]
        assert abs(loud["attention_score_error"] - quiet["attention_score_error"]) < 1e-6
        quiet, loud = rows[("angles (interpolate)", bits)], rows[("noisy angles (interpolate)", bits)]
        assert 0.5 < loud["attention_score_error"] / quiet["attention_score_error"] < 2
    # while at scale 1 the noise dominates
    noisy_result, _ = noisy
    assert noisy_result["noisy"]["reference"]["attention_score_error"] > 100 * ref["attention_score_error"] + 1e-3


BAD = {
    "unknown target": (["--target", "nope-device"], "--target"),
    "wider than the device": (["--target", "line:4"], "--target line:4"),
    "trajectories without target": (["--trajectories", "8"], "--trajectories needs --target"),
    "noise scale without target": (["--noise-scale", "0.5"], "--noise-scale needs --target"),
    "trajectories 0": (["--target", "ibm-torino", "--trajectories", "0"], "--trajectories"),
    "trajectories negative": (["--target", "ibm-torino", "--trajectories", "-4"], "--trajectories"),
    "trajectories 1": (["--target", "ibm-torino", "--trajectories", "1"], "--trajectories"),
    "trajectories text": (["--target", "ibm-torino", "--trajectories", "many"], "--trajectories"),
    "noise scale negative": (["--target", "ibm-torino", "--noise-scale", "-1"], "--noise-scale"),
    "noise scale nan": (["--target", "ibm-torino", "--noise-scale", "nan"], "--noise-scale"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_noise_input_is_one_line_naming_the_argument(case, trained, capsys, tmp_path):  # noqa: F811
    extra, needle = BAD[case]
    argv = ["quantize", "--checkpoint", str(trained), "--out", str(tmp_path / "out"), *extra]
    code, _, err = run_cli(capsys, *argv)
    assert code == 2, err
    assert needle in one_error_line(err)
    assert not (tmp_path / "out").exists()  # refused before any work


def test_noise_scale_inf_is_refused(trained, capsys, tmp_path):  # noqa: F811
    argv = ["quantize", "--checkpoint", str(trained), "--out", str(tmp_path / "o"), "--target", "ibm-torino"]
    code, _, err = run_cli(capsys, *argv, "--noise-scale", str(math.inf))
    assert code == 2 and "--noise-scale" in one_error_line(err)
