"""Each device or gate fact has one source: the Target for costs, the IR table for unitaries, one
ASAP layering, one layout-aware equivalence check; and the IR loads without Cirq."""

import subprocess
import sys
from pathlib import Path

import cirq
import numpy as np
import pytest

from hqvit.ir.angles import Angle
from hqvit.ir.circuit import Circuit, Gate, Measure, Segment
from hqvit.ir.cirq_export import cirq_gate, to_cirq
from hqvit.ir.gates import GATES, circuit_unitary, gate_unitary
from hqvit.ir.metrics import asap_levels, depth
from hqvit.passes.layout import noise_aware_layout
from hqvit.passes.schedule import schedule_alap, schedule_asap
from hqvit.passes.vf2_layout import vf2_layout
from hqvit.targets import resolve_target
from hqvit.targets.target import Target, error_cost


def test_importing_the_ir_does_not_import_cirq():
    code = "import sys, hqvit.ir.circuit, hqvit.ir.gates, hqvit.ir.metrics; print('cirq' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


# -- unitaries: one table, every bridge agrees with it -----------------------------------------
@pytest.mark.parametrize("name", sorted(GATES))
def test_cirq_export_agrees_with_the_gate_table(name, rng):
    angles = [float(a) for a in rng.uniform(-4, 4, GATES[name].num_angles)]
    got = cirq.unitary(cirq_gate(name, *angles))
    assert cirq.allclose_up_to_global_phase(gate_unitary(name, angles), got, atol=1e-12)


@pytest.mark.parametrize("name", sorted(GATES))
def test_qsim_backend_agrees_with_the_gate_table(name, rng):
    from hqvit.runtime.qsim_backend import QsimExecutor

    spec = GATES[name]
    angles = [float(a) for a in rng.uniform(-4, 4, spec.num_angles)]
    n = spec.num_qubits
    start = rng.normal(size=1 << n) + 1j * rng.normal(size=1 << n)
    start /= np.linalg.norm(start)
    circuit = Circuit(n, [Segment("rest", [Gate(name, tuple(range(n)), tuple(Angle(a) for a in angles))])])
    got = QsimExecutor(circuit).final_state(np.zeros(0), np.zeros(0), start.astype(np.complex64))
    assert cirq.allclose_up_to_global_phase(got, gate_unitary(name, angles) @ start, atol=2e-6)


@pytest.mark.parametrize("seed", range(4))
def test_circuit_unitary_agrees_with_cirq(seed):
    rng = np.random.default_rng(seed)
    n, names, gates = 3, sorted(GATES), []
    while len(gates) < 25:
        spec = GATES[names[rng.integers(len(names))]]
        qubits = tuple(int(q) for q in rng.permutation(n)[: spec.num_qubits])
        gates.append(Gate(spec.name, qubits, tuple(Angle(float(rng.uniform(-3, 3))) for _ in range(spec.num_angles))))
    want = to_cirq(Circuit(n, [Segment("s", gates)]), {}, measurements=False).unitary(cirq.LineQubit.range(n))
    assert cirq.allclose_up_to_global_phase(circuit_unitary(gates, n), want, atol=1e-10)


def test_table_matrices_are_read_only():
    with pytest.raises(ValueError):
        gate_unitary("h")[0, 0] = 0


# -- costs: every pass weighs a coupler by the Target's number ---------------------------------
def _ring(n: int) -> Target:
    """n qubits in a ring, every error the same."""
    return Target(
        name=f"ring-{n}",
        num_qubits=n,
        couplers={(q, (q + 1) % n): 0.01 for q in range(n)},
        one_qubit_native="any",
        two_qubit_gate="cz",
        durations_ns={"one_qubit": 25.0, "two_qubit": 60.0, "measure": 800.0},
        one_qubit_error=np.full(n, 1e-3),
        readout_error=np.full(n, 1e-2),
        t1_us=np.full(n, 100.0),
        t2_us=np.full(n, 80.0),
    )


def test_calibrated_costs_come_from_the_target():
    t = resolve_target("ibm-torino")
    usable = set(t.usable_qubits)
    costs = {e: c for e, c in t.coupler_costs.items() if set(e) <= usable}
    mean = float(np.mean(list(costs.values())))
    for (a, b), c in t.coupler_costs.items():
        assert c == error_cost(t.couplers[(a, b)]) == t.coupler_cost(b, a) == t.graph[a][b]["weight"]
    for (a, b), c in costs.items():
        assert t.coupling.cost_matrix[a, b] == t.coupling.cost_matrix[b, a] == c / mean
    assert t.coupling is t.coupling and t.error_distances is t.error_distances  # built once


def test_overriding_the_target_cost_steers_every_pass():
    """A ring whose calibrated errors are uniform, with couplers (0, 1) and (2, 3) made expensive
    through the Target's cost alone: placement, VF2 and routing must all follow it. Every qubit
    has the same mean coupler cost, so only distances can steer the greedy placement away from
    its first uniform choice, (0, 1)."""
    t = _ring(4)
    t.__dict__["coupler_costs"] = {(0, 1): 5.0, (1, 2): 0.1, (2, 3): 5.0, (0, 3): 0.1}  # before any cached view
    circuit = Circuit(2, [Segment("s", [Gate("cx", (0, 1)), Measure((0, 1))])])
    assert tuple(sorted(noise_aware_layout(circuit, t))) == (0, 3)
    assert tuple(sorted(vf2_layout(circuit, t))) in {(0, 3), (1, 2)}
    assert t.error_distances[0, 2] == pytest.approx(5.1)
    assert t.coupling.cost_matrix[0, 1] == pytest.approx(5.0 / 2.55)
    assert t.coupling.dist[0, 2] == pytest.approx(5.1 / 2.55)
    assert t.graph[0][1]["weight"] == 5.0


def test_median_cost_for_a_pair_without_a_coupler():
    t = _ring(5)
    assert t.coupler_cost(0, 2) == error_cost(t.median_two_qubit_error())


# -- one ASAP layering -------------------------------------------------------------------------
def test_asap_levels_keep_the_order_on_every_qubit():
    # first-fit layering would put the last op in level 0, before the op on (0, 1) it follows on 1
    assert asap_levels([(0,), (0, 1), (1,), (2,)]) == [0, 1, 2, 0]
    assert asap_levels([]) == []


@pytest.mark.parametrize("seed", range(4))
def test_depth_and_schedules_share_the_layering(seed):
    rng = np.random.default_rng(seed)
    gates = []
    for _ in range(60):
        k = int(rng.integers(1, 3))
        gates.append(Gate("h" if k == 1 else "cx", tuple(int(q) for q in rng.permutation(5)[:k])))
    circuit = Circuit(5, [Segment("s", gates)])
    asap, alap = schedule_asap(circuit), schedule_alap(circuit)
    assert depth(circuit) == asap.depth() == alap.depth()
    for schedule in (asap, alap):
        assert sorted(map(id, (g for m in schedule.moments for g in m))) == sorted(map(id, gates))
        position = {id(g): k for k, m in enumerate(schedule.moments) for g in m}
        for i, g in enumerate(gates):  # every later gate sharing a qubit sits in a later moment
            for h in gates[i + 1 :]:
                if set(g.qubits) & set(h.qubits):
                    assert position[id(g)] < position[id(h)]


# -- the layout-aware equivalence check --------------------------------------------------------
def _compiled():
    from hqvit.compiler.pipeline import compile_circuit

    gates = [Gate("ry", (0,), (Angle(0.4),)), Gate("cx", (0, 2)), Gate("rz", (1,), (Angle(0.9),)), Gate("cx", (1, 2))]
    return compile_circuit(Circuit(3, [Segment("main", [*gates, Measure((0, 1, 2))])]), resolve_target("line:5"), opt=1)


def test_verify_passes_a_correct_compile():
    from hqvit.runtime.verify import verify_compiled

    assert verify_compiled(_compiled(), trials=2) < 1e-5


def test_verify_catches_a_wrong_initial_layout():
    """Starting every qubit in |0> cannot tell two initial layouts apart; a random product input can."""
    from hqvit.runtime.verify import verify_compiled

    compiled = _compiled()
    compiled.initial_layout = compiled.initial_layout[::-1]
    assert verify_compiled(compiled, trials=2) > 1e-2


def test_state_left_on_an_ancilla_is_not_equivalent():
    from hqvit.runtime.verify import layout_equivalence_error

    want = np.array([1, 0], dtype=complex)
    leaked = np.kron([1, 0], [0, 1]).astype(complex)  # logical qubit on axis 0, ancilla in |1>
    kept = np.kron([1, 0], [1, 0]).astype(complex)
    assert layout_equivalence_error(want, kept, [0]) == pytest.approx(0)
    assert layout_equivalence_error(want, leaked, [0]) == 1.0


@pytest.mark.parametrize("name", ["ibm-torino", "heavy-hex:5", "ionq-aria", "fixture-ibm"])
def test_error_distances_are_the_shortest_paths_over_usable_qubits(name):
    """Against networkx's Dijkstra on the usable subgraph (the fixture has a disabled qubit and a
    disabled coupler): equal lengths, inf exactly where no usable path exists."""
    import networkx as nx

    fixtures = Path(__file__).resolve().parents[1] / "fixtures" / "ibm"
    tiny = f"ibm:{fixtures}/conf_tiny_cz.json,{fixtures}/props_tiny_cz.json"
    t = resolve_target(tiny if name == "fixture-ibm" else name)
    assert name != "fixture-ibm" or t.disabled_qubits
    ref = np.full((t.num_qubits, t.num_qubits), np.inf)
    for src, lengths in nx.all_pairs_dijkstra_path_length(t.graph.subgraph(t.usable_qubits), weight="weight"):
        for dst, d in lengths.items():
            ref[src, dst] = d
    got = t.error_distances
    assert np.array_equal(np.isinf(got), np.isinf(ref))
    finite = np.isfinite(ref)
    assert np.allclose(got[finite], ref[finite], rtol=1e-12, atol=0)
    assert not got.flags.writeable
