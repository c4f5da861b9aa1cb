"""Every built-in target, both loaders, and the rejection of invalid target files."""

import copy
import json
from pathlib import Path

import numpy as np
import pytest

from hqvit.cli.main import main
from hqvit.compiler.hqvit import HQViTConfig
from hqvit.compiler.pipeline import compile_hqvit
from hqvit.ir.errors import CalibrationWarning, InputError
from hqvit.targets import describe, resolve_target
from hqvit.targets.registry import split_target_list
from hqvit.targets.schema import load_target_file, save_target_file, target_from_dict, target_to_dict
from tests.helpers import COMPILED_ATOL, assert_equivalent

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ibm"


@pytest.mark.parametrize(
    "name,qubits,edges",
    [
        ("line:5", 5, 4),
        ("ring:6", 6, 6),
        ("grid:3x4", 12, 17),
        ("heavy-hex:3", 19, 20),
        ("heavy-hex:5", 57, 64),
        ("all-to-all:4", 4, 6),
    ],
)
def test_generic_topologies(name, qubits, edges):
    t = resolve_target(name)
    assert t.num_qubits == qubits and len(t.edges) == edges
    assert t.native_gates[-1] == "cx"
    assert describe(t)["median_errors"] == {"one_qubit": 2.5e-4, "two_qubit": 5e-3, "readout": 1.5e-2}


def test_heavy_hex_is_degree_three_at_most():
    t = resolve_target("heavy-hex:5")
    assert max(d for _, d in t.graph.degree()) == 3


def test_profile_overrides():
    t = resolve_target("grid:2x2@p2=0.02,t1=50,t2=40,gate=cz,d2=120")
    assert t.two_qubit_gate == "cz" and t.median_two_qubit_error() == 0.02
    assert t.t1_us[0] == 50 and t.durations_ns["two_qubit"] == 120


def test_target_lists_keep_each_targets_overrides():
    names = split_target_list("ibm-torino@zz=0,t2star_ratio=1, willow105,line:4@p2=0.02,t1=50,sycamore23,")
    assert names == ["ibm-torino@zz=0,t2star_ratio=1", "willow105", "line:4@p2=0.02,t1=50", "sycamore23"]
    assert resolve_target(names[2]).t1_us[0] == 50


@pytest.mark.parametrize("bad", ["grid:2x2@p9=1", "line:x", "heavy-hex:4", "ring:2", "grid:2x2@gate=foo", "warp:9"])
def test_bad_names(bad):
    with pytest.raises(InputError):
        resolve_target(bad)


@pytest.mark.parametrize(
    "name,qubits,gate,edges",
    [("sycamore23", 23, "sqrt_iswap", 32), ("sycamore54", 53, "sqrt_iswap", 86), ("willow105", 105, "cz", 182)],
)
def test_google_calibrations(name, qubits, gate, edges):
    pytest.importorskip("cirq_google")
    t = resolve_target(name)
    assert (t.num_qubits, t.two_qubit_gate, len(t.edges)) == (qubits, gate, edges)
    m = t.median_errors()
    assert 1e-4 < m["one_qubit"] < 1e-2 and 1e-3 < m["two_qubit"] < 5e-2 and 1e-3 < m["readout"] < 0.1
    assert np.all(t.t2_us <= 2 * t.t1_us + 1e-9)
    assert t.qubit_labels[0].startswith("q(")


def test_ion_targets():
    aria, h2 = resolve_target("ionq-aria"), resolve_target("quantinuum-h2")
    assert aria.fully_connected and aria.num_qubits == 25 and aria.two_qubit_gate == "ms"
    assert h2.fully_connected and h2.num_qubits == 56 and h2.two_qubit_gate == "zz"
    assert aria.median_two_qubit_error() == pytest.approx(4e-3)
    assert aria.durations_ns["two_qubit"] == 600e3


@pytest.mark.parametrize("entangler", ["cz", "ecr"])
def test_ibm_fixture_loads_and_drops_the_disabled_coupler(entangler):
    t = resolve_target(f"ibm:{FIXTURES}/conf_tiny_{entangler}.json,{FIXTURES}/props_tiny_{entangler}.json")
    assert t.name == f"ibm:fake_tiny_{entangler}"
    assert t.edges == [(0, 1), (1, 2), (1, 3)]
    assert t.disabled_qubits == {4}
    assert t.native_gates == ("rz", "sx", "x", entangler)
    assert t.one_qubit_error[2] == pytest.approx(6e-4)
    assert t.readout_error[1] == pytest.approx(0.02)
    assert t.t1_us[3] == 130 and t.virtual_z


@pytest.mark.parametrize("backend,qubits,usable", [("torino", 133, 129), ("sherbrooke", 127, 122)])
def test_full_ibm_calibrations_load(backend, qubits, usable):
    t = resolve_target(f"ibm-{backend}")
    assert t.num_qubits == qubits and len(t.usable_qubits) == usable
    assert t.name == f"ibm:ibm_{backend}"


def _write_ibm(tmp_path, mutate_conf=None, mutate_props=None):
    conf = json.loads((FIXTURES / "conf_tiny_cz.json").read_text())
    props = json.loads((FIXTURES / "props_tiny_cz.json").read_text())
    if mutate_conf:
        mutate_conf(conf)
    if mutate_props:
        mutate_props(props)
    (tmp_path / "c.json").write_text(json.dumps(conf))
    (tmp_path / "p.json").write_text(json.dumps(props))
    return f"ibm:{tmp_path}/c.json,{tmp_path}/p.json"


@pytest.mark.parametrize(
    "mutate_conf,mutate_props,needle",
    [
        (lambda c: c.pop("n_qubits"), None, "'n_qubits'"),
        (lambda c: c.update(basis_gates=["rz", "sx"]), None, "'basis_gates'"),
        (None, lambda p: p["qubits"][2][0].update(value=-5), "qubits[2]: field 'T1' must be positive"),
        (None, lambda p: p["qubits"][1][2].update(value=1.5), "field 'readout_error' = 1.5 is outside [0, 1]"),
        (None, lambda p: p.update(qubits={}), "field 'qubits' has no entries"),
        (None, lambda p: p["gates"][10]["parameters"][0].update(value=2), "gates[10]: field 'gate_error' = 2"),
        (None, lambda p: p["gates"].__setitem__(3, "sx3"), "gates[3]: expected a JSON object"),
        (None, lambda p: p["qubits"].pop(), "has 4 entries"),
        (None, lambda p: p["gates"][0].update(qubits=[9]), "outside 0..4"),
        (None, lambda p: p["gates"][0]["parameters"][0].update(value="bad"), "not a number"),
    ],
)
def test_invalid_ibm_files(tmp_path, mutate_conf, mutate_props, needle):
    with pytest.raises(InputError, match=needle.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(")):
        resolve_target(_write_ibm(tmp_path, mutate_conf, mutate_props))


def test_ibm_file_that_is_not_json(tmp_path):
    (tmp_path / "c.json").write_text("{nope")
    with pytest.raises(InputError, match="not valid JSON"):
        resolve_target(f"ibm:{tmp_path}/c.json,{tmp_path}/c.json")


@pytest.mark.parametrize("name", ["grid:2x3", "ionq-aria", "line:4@p2=0.02"])
def test_export_and_reload_is_identical(tmp_path, name):
    t = resolve_target(name)
    path = tmp_path / "t.json"
    save_target_file(t, path)
    again = resolve_target(f"file:{path}")
    assert target_to_dict(again) == target_to_dict(t)


def test_export_of_a_real_ibm_target_round_trips(tmp_path):
    t = resolve_target(f"ibm:{FIXTURES}/conf_tiny_ecr.json,{FIXTURES}/props_tiny_ecr.json")
    save_target_file(t, tmp_path / "t.json")
    again = load_target_file(tmp_path / "t.json")
    assert target_to_dict(again) == target_to_dict(t) and again.disabled_qubits == {4}


def _valid() -> dict:
    return target_to_dict(resolve_target("line:3"))


def _set(path: str, value):
    def f(d):
        keys = path.split(".")
        obj = d
        for k in keys[:-1]:
            obj = obj[int(k)] if k.isdigit() else obj[k]
        last = keys[-1]
        if value is KeyError:
            del obj[int(last) if last.isdigit() else last]
        elif last.isdigit():
            obj[int(last)] = value
        else:
            obj[last] = value

    return f


@pytest.mark.parametrize(
    "change,needle",
    [
        (_set("couplers", []), "coupling graph has no edges"),
        (_set("couplers", [{"qubits": [0, 1], "error": 0.01}]), "disconnected"),
        (_set("qubits.1.t1_us", "long"), "qubits[1].t1_us"),
        (_set("name", KeyError), "missing field 'name'"),
        (_set("couplers.0.error", 1.5), "couplers[0].error"),
        (_set("qubits.2.readout_error", -0.1), "qubits[2].readout_error"),
        (_set("native_gates.two_qubit", "cnot9"), "native_gates.two_qubit"),
        (_set("native_gates.one_qubit", "qutrit"), "native_gates.one_qubit"),
        (_set("couplers.1.qubits", [1, 7]), "couplers[1].qubits[1]"),
        (_set("couplers.1.qubits", [1, 1]), "to itself"),
        (_set("num_qubits", 0), "num_qubits"),
        (_set("qubits.0.t2_us", 0), "qubits[0].t2_us"),
        (_set("durations_ns.measure", "slow"), "durations_ns.measure"),
        (_set("coupler", []), "unknown field 'coupler'"),
        (_set("crosstalk", [[[0, 1], [0, 2]]]), "not a coupler"),
        (_set("disabled_qubits", [5]), "disabled_qubits[0]"),
        (_set("rep_delay_us", -1), "rep_delay_us"),
        (_set("rep_delay_us", "long"), "rep_delay_us"),
        (_set("rep_delay_source", 3), "rep_delay_source"),
    ],
)
def test_invalid_target_files_name_the_field(tmp_path, change, needle):
    d = copy.deepcopy(_valid())
    change(d)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(d))
    with pytest.raises(InputError) as info:
        resolve_target(f"file:{path}")
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_valid_dict_loads():
    assert target_from_dict(_valid()).num_qubits == 3


def test_rep_delay_is_exported_and_optional(tmp_path):
    t = resolve_target("ibm-sherbrooke")
    save_target_file(t, tmp_path / "t.json")
    again = load_target_file(tmp_path / "t.json")
    assert again.rep_delay_us == t.rep_delay_us == 250.0 and again.rep_delay_source == t.rep_delay_source
    d = _valid()
    del d["rep_delay_us"], d["rep_delay_source"]
    assert target_from_dict(d).rep_delay_us is None
    d["rep_delay_us"] = 100
    assert target_from_dict(d).rep_delay_us == 100.0 and "rep_delay_us" in target_from_dict(d).rep_delay_source


INCOMPLETE = f"ibm:{FIXTURES}/conf_incomplete.json,{FIXTURES}/props_incomplete.json"


def _load_incomplete() -> tuple:
    with pytest.warns(CalibrationWarning) as record:
        t = resolve_target(INCOMPLETE)
    return t, [str(w.message) for w in record if issubclass(w.category, CalibrationWarning)]


def test_incomplete_ibm_calibration_loads_with_one_warning():
    # The fixture has the gaps real property files have: qubit 6 without T1, qubit 13 with a null
    # readout_error, qubit 4 without an sx gate_error, coupler (7, 8) without gate_error, coupler
    # (0, 1) disabled by the provider (gate_error 1), coupler (10, 11) without gate_length.
    t, messages = _load_incomplete()
    assert len(messages) == 1
    assert "qubits 4 (no sx gate_error), 6 (no T1), 13 (no readout_error)" in messages[0]
    assert "coupler (7, 8) dropped (no gate_error)" in messages[0]
    assert "(0, 1)" not in messages[0]  # disabled by the provider: a device fact, not a gap
    assert t.disabled_qubits == {4, 6, 13}
    assert not any(set(e) & t.disabled_qubits for e in t.couplers)
    assert (7, 8) not in t.couplers and (0, 1) not in t.couplers and (10, 11) in t.couplers
    assert t.two_qubit_duration(10, 11) == t.durations_ns["two_qubit"] == 68.0
    assert np.isfinite(t.t1_us).all() and t.t1_us[6] == np.median(np.delete(t.t1_us, 6))


@pytest.mark.parametrize("opt", [1, 3])
def test_incomplete_ibm_calibration_compiles_and_verifies(opt):
    t, _ = _load_incomplete()
    cc = compile_hqvit(HQViTConfig((4, 4), (2, 2), layers=1), t, opt=opt)
    used = {q for g in cc.circuit.gates() for q in g.qubits}
    assert not used & t.disabled_qubits
    assert all(t.coupled(*g.qubits) for g in cc.circuit.gates() if len(g.qubits) == 2)
    assert_equivalent(cc, trials=2, atol=COMPILED_ATOL)


def test_cli_prints_the_calibration_warning_as_one_line(capsys):
    assert main(["targets", "show", INCOMPLETE, "--json"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("hqvit: warning: ibm:fake_incomplete: incomplete calibration")


def test_complete_calibrations_load_without_warning():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", CalibrationWarning)
        resolve_target(f"ibm:{FIXTURES}/conf_tiny_cz.json,{FIXTURES}/props_tiny_cz.json")
        resolve_target("ibm-torino")


def test_target_file_with_missing_calibration_follows_the_same_rule(tmp_path):
    d = target_to_dict(resolve_target("grid:3x4"))
    del d["qubits"][5]["t1_us"]
    d["qubits"][0]["readout_error"] = None
    d["couplers"][-1]["error"] = None  # (10, 11)
    expected = r"qubit 0 .no readout_error.*qubit 5 .no t1_us.*\(10, 11\) dropped"
    with pytest.warns(CalibrationWarning, match=expected) as rec:
        t = target_from_dict(d)
    assert len(rec) == 1
    assert t.disabled_qubits == {0, 5} and len(t.couplers) == 17 - 2 - 4 - 1
    assert not any(set(e) & t.disabled_qubits for e in t.couplers)
    d["qubits"][1]["t2_us"] = "long"  # present but wrong is an error, not a gap
    with pytest.raises(InputError, match=r"qubits\[1\].t2_us"):
        target_from_dict(d)


def test_uniform_errors_tells_generic_profiles_from_calibrations():
    assert resolve_target("grid:3x3").uniform_errors and resolve_target("line:4@p2=0.02").uniform_errors
    assert not resolve_target("ibm-torino").uniform_errors and not resolve_target("willow105").uniform_errors
    uneven = resolve_target("line:3")
    uneven.t1_us = np.array([100.0, 100.0, 90.0])
    assert not uneven.uniform_errors
