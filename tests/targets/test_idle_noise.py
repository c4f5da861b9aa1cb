"""Static ZZ and T2*: loaded from calibrations where they exist (gaps, placeholders and disabled
couplers handled), family defaults elsewhere, ``@key=value`` overrides, and their meaning."""

import copy
import json
import math
from pathlib import Path

import numpy as np
import pytest

from hqvit.cli.main import main
from hqvit.ir.errors import InputError
from hqvit.targets import describe, resolve_target
from hqvit.targets.idle_noise import FAMILIES
from hqvit.targets.schema import target_from_dict, target_to_dict

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ibm"


def _zz(name: str, ghz, jq=0.002, unit: str = "GHz") -> list[dict]:
    return [
        {"date": "2025-01-01", "name": f"jq_{name}", "unit": "GHz", "value": jq},
        {"date": "2025-01-01", "name": f"zz_{name}", "unit": unit, "value": ghz},
    ]


def _tiny_ecr(tmp_path, general) -> str:
    props = json.loads((FIXTURES / "props_tiny_ecr.json").read_text())
    props["general"] = general
    (tmp_path / "p.json").write_text(json.dumps(props))
    return f"ibm:{FIXTURES}/conf_tiny_ecr.json,{tmp_path}/p.json"


def test_sherbrooke_zz_comes_from_its_calibration():
    t = resolve_target("ibm-sherbrooke")
    # general: zz_6272 = -6.069584921162541e-05 GHz, zz_1213 = -4.787665971607517e-05 GHz
    assert t.zz_khz[(62, 72)] == pytest.approx(-60.69584921162541)
    assert t.zz_khz[(12, 13)] == pytest.approx(-47.87665971607517)
    assert set(t.zz_khz) == set(t.couplers)
    assert 40 < float(np.median(np.abs(list(t.zz_khz.values())))) < 80  # "tens of kHz" on Eagle
    assert np.allclose(t.t2star_us, 0.6 * t.t2_us)


def test_placeholders_missing_and_disabled_entries(tmp_path):
    # tiny ECR device: couplers (0,1), (1,2), (1,3); (3,4) has gate_error 1 (disabled)
    general = (
        _zz("01", -7e-5)
        + _zz("12", -5e-5)
        + _zz("13", 0.0, jq=0)  # placeholder: zz and jq both 0
        + _zz("34", -9e-5)  # a disabled coupler: not in the target
        + [{"name": "zz_99", "unit": "GHz", "value": None}, {"name": "lf_4", "unit": "", "value": 0.9}]
    )
    t = resolve_target(_tiny_ecr(tmp_path, general))
    assert t.zz_khz[(0, 1)] == pytest.approx(-70) and t.zz_khz[(1, 2)] == pytest.approx(-50)
    assert t.zz_khz[(1, 3)] == pytest.approx(-60)  # the median of the measured ones
    assert set(t.zz_khz) == {(0, 1), (1, 2), (1, 3)}
    assert "measured on 2 couplers, the other 1" in t.idle_noise_source["zz"]
    in_khz = resolve_target(_tiny_ecr(tmp_path, _zz("01", 70, unit="kHz")))
    assert in_khz.zz_khz[(0, 1)] == pytest.approx(70)


@pytest.mark.parametrize("general", [[], [{"name": "jq_01", "value": 0.002}]])
def test_no_zz_data_takes_the_family_default(tmp_path, general):
    t = resolve_target(_tiny_ecr(tmp_path, general))
    assert set(t.zz_khz.values()) == {FAMILIES["ibm-fixed-coupler"].zz_khz}
    cz = resolve_target(f"ibm:{FIXTURES}/conf_tiny_cz.json,{FIXTURES}/props_tiny_cz.json")
    assert set(cz.zz_khz.values()) == {FAMILIES["ibm-tunable-coupler"].zz_khz}


def test_torino_zeros_are_placeholders_not_measurements():
    t = resolve_target("ibm-torino")
    assert set(t.zz_khz.values()) == {FAMILIES["ibm-tunable-coupler"].zz_khz}
    assert "placeholders" in t.idle_noise_source["zz"]


@pytest.mark.parametrize(
    "general,needle",
    [
        (_zz("01", "strong"), r"general\[1\] 'zz_01' is not a number"),
        (_zz("01", -7e-5, unit="rad"), "unknown frequency unit 'rad'"),
        ({"zz_01": 1}, "field 'general' must be a list"),
    ],
)
def test_wrong_zz_entries_are_errors(tmp_path, general, needle):
    with pytest.raises(InputError, match=needle):
        resolve_target(_tiny_ecr(tmp_path, general))


@pytest.mark.parametrize(
    "name,zz,ratio",
    [("line:4", 0.0, 1.0), ("ionq-aria", 0.0, 1.0), ("quantinuum-h2", 0.0, 1.0)],
)
def test_family_defaults(name, zz, ratio):
    t = resolve_target(name)
    assert all(v == zz for v in t.zz_khz.values())
    assert np.allclose(t.t2star_us, ratio * t.t2_us)
    assert np.all(t.quasi_static_sigma() == 0)


def test_google_defaults():
    pytest.importorskip("cirq_google")
    t = resolve_target("sycamore23")
    assert set(t.zz_khz.values()) == {FAMILIES["google"].zz_khz} and set(t.zz_khz) == set(t.couplers)
    assert np.allclose(t.t2star_us, 0.6 * t.t2_us)


def test_overrides_on_every_kind_of_target():
    t = resolve_target("ibm-sherbrooke@zz=0,t2star_ratio=1")
    assert t.zz_khz == {} and np.array_equal(t.t2star_us, t.t2_us)
    assert t.name == "ibm-sherbrooke@zz=0,t2star_ratio=1" and "override" in t.idle_noise_source["zz"]
    g = resolve_target("grid:2x2@p2=0.02,zz=40,t2star=30")
    assert g.median_two_qubit_error() == 0.02 and set(g.zz_khz.values()) == {40.0}
    assert np.all(g.t2star_us == 30) and g.name == "grid:2x2@p2=0.02,zz=40,t2star=30"
    assert set(resolve_target("ionq-aria@zz=-5").zz_khz.values()) == {-5.0}
    half = resolve_target("ibm-torino@t2star_ratio=0.5")
    assert np.allclose(half.t2star_us, 0.5 * half.t2_us)


@pytest.mark.parametrize(
    "name,key",
    [
        ("line:3@zz=abc", "zz"),
        ("line:3@zz=nan", "zz"),
        ("ionq-aria@t2star=-1", "t2star"),
        ("ionq-aria@t2star_ratio=1.5", "t2star_ratio"),
        ("line:3@t2star_ratio=0", "t2star_ratio"),
        ("ionq-aria@p2=0.1", "p2"),
        ("line:3@zz", "zz"),
        ("line:3@t2star=5,t2star_ratio=0.5", "t2star_ratio"),
        ("line:3@zzz=1", "zzz"),
    ],
)
def test_bad_overrides_are_one_line_naming_the_key(name, key, capsys):
    with pytest.raises(InputError, match=key):
        resolve_target(name)
    assert main(["targets", "show", name]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("hqvit: error: ") and key in err[0]


def test_sigma_reproduces_the_ramsey_time():
    t = resolve_target("line:3@t2=100,t1=150,t2star=40")
    sigma, t2s = t.quasi_static_sigma()[0], 40e3  # rad/ns, ns
    assert math.exp(-t2s / 100e3 - (sigma * t2s) ** 2 / 2) == pytest.approx(math.exp(-1))
    assert np.all(resolve_target("line:3@t2star=400").quasi_static_sigma() == 0)  # T2* >= T2
    assert t.zz_rad_per_ns(0, 1) == 0.0
    assert resolve_target("line:3@zz=50").zz_rad_per_ns(1, 0) == pytest.approx(2 * math.pi * 50e3 * 1e-9)


def test_file_format_keeps_and_fills_the_idle_terms():
    t = resolve_target("line:4@zz=30,t2star_ratio=0.5")
    d = target_to_dict(t)
    assert target_to_dict(target_from_dict(copy.deepcopy(d))) == d
    del d["qubits"][1]["t2star_us"]
    d["qubits"][2]["t2star_us"] = None
    d["couplers"][0]["zz_khz"] = 10.0
    del d["couplers"][1]["zz_khz"]
    again = target_from_dict(d)
    assert np.allclose(again.t2star_us, 0.5 * again.t2_us)  # the median ratio of the others
    assert again.zz_khz == {(0, 1): 10.0, (1, 2): 20.0, (2, 3): 30.0}  # gap: median of 10 and 30
    bare = target_to_dict(t)
    for q in bare["qubits"]:
        del q["t2star_us"]
    for c in bare["couplers"]:
        del c["zz_khz"]
    del bare["idle_noise_source"]
    plain = target_from_dict(bare)
    assert plain.zz_khz == {} and np.array_equal(plain.t2star_us, plain.t2_us)
    assert "no zz_khz" in describe(plain)["idle_noise_source"]["zz"]


@pytest.mark.parametrize(
    "where,value,needle",
    [
        ("qubits", -3, r"qubits\[1\].t2star_us"),
        ("qubits", "long", r"qubits\[1\].t2star_us"),
        ("couplers", "big", r"couplers\[1\].zz_khz"),
        ("couplers", math.inf, r"couplers\[1\].zz_khz"),
    ],
)
def test_wrong_idle_values_in_a_file_name_the_field(where, value, needle):
    d = target_to_dict(resolve_target("line:4@zz=30"))
    d[where][1]["t2star_us" if where == "qubits" else "zz_khz"] = value
    with pytest.raises(InputError, match=needle):
        target_from_dict(d)
