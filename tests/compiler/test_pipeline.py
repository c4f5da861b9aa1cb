"""Whole-pipeline equivalence: logical circuits compiled onto every kind of target."""

import numpy as np
import pytest

from hqvit.compiler.hqvit import HQViTConfig
from hqvit.compiler.pipeline import compile_circuit, compile_hqvit
from hqvit.ir.angles import Angle
from hqvit.ir.circuit import Circuit, Gate, Measure, Segment
from hqvit.targets import resolve_target
from tests.helpers import COMPILED_ATOL, assert_equivalent, random_circuit

TARGETS = [
    "line:7",
    "grid:3x3",
    "heavy-hex:3",
    "ionq-aria",
    "quantinuum-h2",
    "ibm-torino",
    "ibm-sherbrooke",
    "grid:3x3@gate=sqrt_iswap",
    "willow105",
]


def _native_only(cc):
    t = cc.target
    for g in cc.circuit.gates():
        assert g.name in t.native_gates, g
        if len(g.qubits) == 2:
            assert t.coupled(*g.qubits), g
        assert not set(g.qubits) & t.disabled_qubits


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("seed", range(3))
def test_random_circuits_compile_to_equivalent_native_circuits(target, seed):
    if target == "willow105":
        pytest.importorskip("cirq_google")
    rng = np.random.default_rng(seed)
    circuit, _ = random_circuit(rng, int(rng.integers(3, 7)), 40, symbolic=True)
    cc = compile_circuit(circuit, resolve_target(target))
    _native_only(cc)
    assert cc.circuit.used_symbols() == circuit.used_symbols()
    assert_equivalent(cc, trials=2, seed=seed, atol=COMPILED_ATOL)


@pytest.mark.parametrize("swap_test", ["bell", "cswap"])
@pytest.mark.parametrize("target", ["heavy-hex:3", "ibm-torino", "ionq-aria"])
def test_hqvit_compiles_to_equivalent_native_circuits(target, swap_test):
    cc = compile_hqvit(HQViTConfig((8, 8), (2, 2), layers=1, swap_test=swap_test), resolve_target(target))
    _native_only(cc)
    assert_equivalent(cc, trials=2, atol=COMPILED_ATOL)
    report = cc.report()
    assert 0 < report["esp"] < 1 and report["duration_ns"] > 0
    assert sorted(report["initial_layout"]) == sorted(set(report["initial_layout"]))


def test_segments_survive_compilation():
    cc = compile_hqvit(HQViTConfig(), resolve_target("grid:4x4"))
    assert [s.name for s in cc.circuit.segments] == ["encode", "trainable", "readout"]
    encode = cc.circuit.segment("encode")
    assert all(s.startswith("x") for g in encode.ops if isinstance(g, Gate) for a in g.angles for s in a.symbols)


def test_circuit_wider_than_the_device_is_refused():
    from hqvit.ir.errors import InputError

    with pytest.raises(InputError, match="needs 12 qubits but target line:5 has 5 usable"):
        compile_hqvit(HQViTConfig(), resolve_target("line:5"))


def test_compilation_is_deterministic():
    a = compile_hqvit(HQViTConfig(), resolve_target("heavy-hex:3"))
    b = compile_hqvit(HQViTConfig(), resolve_target("heavy-hex:3"))
    assert a.circuit.segments == b.circuit.segments and a.final_layout == b.final_layout


def test_measurements_follow_the_layout():
    ops = [Gate("h", (0,)), Gate("cx", (0, 3)), Gate("ry", (2,), (Angle(0.4),)), Measure((0, 1, 2, 3))]
    cc = compile_circuit(Circuit(4, [Segment("main", ops)]), resolve_target("line:4"))
    assert cc.circuit.measured_qubits() == tuple(cc.final_layout)


@pytest.mark.parametrize("opt", [1, 3])
def test_pass_records_add_up_to_the_compile_time(opt):
    """Every pass, and at --opt 3 every candidate of the ESP search, is in the records."""
    cc = compile_hqvit(HQViTConfig(), resolve_target("ibm-torino"), opt=opt)
    total = sum(r.seconds for r in cc.passes)
    assert total == pytest.approx(cc.seconds, rel=0.05), (total, cc.seconds)
    if opt == 3:
        (search,) = cc.passes
        # 3 seeds x (error-weighted, uniform) generic routings, and the synthesis path both ways
        assert search.name == "select_by_esp" and len(search.children) == 8
        for candidate in search.children:
            assert sum(r.seconds for r in candidate.children) <= candidate.seconds
            first = "synthesize_hqvit" if candidate.name.startswith("synthesis") else "lower"
            assert candidate.children[0].name == first
    else:
        assert [r.name for r in cc.passes][-2:] == ["schedule", "serialize_crosstalk"]
    assert cc.report()["passes"][0]["name"] == cc.passes[0].name


def test_a_compile_leaves_the_cyclic_collector_as_it_found_it():
    """The collector is paused during a compile (a speed measure), then restored, on or off, also
    when the compile fails."""
    import gc

    from hqvit.ir.errors import InputError

    cfg = HQViTConfig((8, 8), (4, 4))
    try:
        for enabled in (True, False):
            gc.enable() if enabled else gc.disable()
            compile_hqvit(cfg, None, opt=1)
            assert gc.isenabled() == enabled
            with pytest.raises(InputError):
                compile_hqvit(cfg, None, opt=7)
            assert gc.isenabled() == enabled
    finally:
        gc.enable()


@pytest.mark.parametrize("target", ["ibm-torino", "ibm-sherbrooke"])
def test_candidate_ranking_esp_is_the_full_estimates(target):
    """``success_probability(coherent=False)``, which ranks the --opt 3 candidates, reads the
    same floats as the full estimate built from moment plans."""
    from hqvit.targets.noise import esp, plan_moments

    compiled = compile_hqvit(HQViTConfig((8, 8), (4, 4)), resolve_target(target), opt=2)
    moments = [[(g.name, g.qubits) for g in m] for m in compiled.schedule.moments]
    full = esp(plan_moments(moments, compiled.target), compiled.schedule.measured, compiled.target, 0.5)
    fast = compiled.success_probability(scale=0.5, coherent=False)
    assert fast == {k: full[k] for k in fast}
    assert set(fast) >= {"esp", "esp_gates", "esp_idle", "esp_readout", "duration_ns"}
