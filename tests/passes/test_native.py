"""Native decomposition and single-qubit resynthesis: exact up to global phase, symbols kept."""

import cirq
import numpy as np
import pytest

from hqvit.ir.angles import Angle
from hqvit.ir.circuit import Circuit, Gate, Segment
from hqvit.ir.gates import GATES
from hqvit.passes.expand_three_qubit import expand_three_qubit
from hqvit.passes.native import two_qubit_template
from hqvit.passes.single_qubit import numeric_to_native, resynthesize_single_qubit, symbolic_to_native
from hqvit.targets.target import ENTANGLERS
from tests.helpers import assert_equivalent

TWO_QUBIT = [n for n, s in GATES.items() if s.num_qubits == 2]


@pytest.mark.parametrize("entangler", ENTANGLERS)
@pytest.mark.parametrize("gate", TWO_QUBIT)
def test_two_qubit_templates_are_exact_and_minimal(gate, entangler):
    template = list(two_qubit_template(gate, entangler))
    assert_equivalent(Circuit(2, [Segment("t", template)]), Circuit(2, [Segment("g", [Gate(gate, (0, 1))])]), atol=1e-6)
    assert {g.name for g in template if len(g.qubits) == 2} <= {entangler}
    uses = sum(len(g.qubits) == 2 for g in template)
    if gate == entangler:
        assert uses == 1
    elif gate == "swap":
        assert uses == 3
    elif entangler == "sqrt_iswap" or gate == "sqrt_iswap":
        assert uses == 2
    else:
        assert uses == 1


@pytest.mark.parametrize("name", ["ccx", "cswap"])
def test_three_qubit_expansion(name):
    assert_equivalent(
        Circuit(3, [Segment("g", expand_three_qubit(Gate(name, (2, 0, 1))))]),
        Circuit(3, [Segment("g", [Gate(name, (2, 0, 1))])]),
    )


@pytest.mark.parametrize("native", ["any", "ibm"])
def test_numeric_runs_resynthesize_exactly(native, rng):
    for _ in range(30):
        u = cirq.testing.random_unitary(2, random_state=np.random.RandomState(int(rng.integers(1 << 30))))
        gates = numeric_to_native(u, 0, native)
        allowed = {"u3", "rz"} if native == "any" else {"rz", "sx", "x"}
        assert {g.name for g in gates} <= allowed
        assert len([g for g in gates if g.name != "rz"]) <= (1 if native == "any" else 2)
        assert_equivalent(Circuit(1, [Segment("g", gates)]), u)


@pytest.mark.parametrize("theta", [0.0, np.pi / 2, -np.pi / 2, np.pi, 1e-3])
def test_ibm_special_angles_use_fewer_pulses(theta):
    u = cirq.unitary(cirq.rz(0.3)) @ cirq.unitary(cirq.ry(theta)) @ cirq.unitary(cirq.rz(-1.1))
    gates = numeric_to_native(u, 0, "ibm")
    pulses = sum(g.name in ("sx", "x") for g in gates)
    if np.isclose(abs(theta), np.pi / 2) or np.isclose(abs(theta), np.pi):
        assert pulses == 1
    elif theta == 0.0:
        assert pulses == 0
    assert_equivalent(Circuit(1, [Segment("g", gates)]), u)


@pytest.mark.parametrize("name", ["rx", "ry", "rz", "u3"])
def test_symbolic_rotations_on_ibm_keep_their_symbols(name, rng):
    n_angles = GATES[name].num_angles
    angles = tuple(Angle.symbol(f"a{k}", 1.0 + k) + 0.1 * k for k in range(n_angles))
    g = Gate(name, (0,), angles)
    out = symbolic_to_native(g, "ibm")
    assert {x.name for x in out} <= {"rz", "sx", "x"}
    assert {s for x in out for a in x.angles for s in a.symbols} == {f"a{k}" for k in range(n_angles)}
    values = [{f"a{k}": float(rng.uniform(-4, 4)) for k in range(n_angles)} for _ in range(3)]
    assert_equivalent(Circuit(1, [Segment("g", out)]), Circuit(1, [Segment("g", [g])]), bindings=values)


@pytest.mark.parametrize("native", ["any", "ibm"])
def test_resynthesis_of_mixed_circuits(native, rng):
    ops = []
    for k in range(40):
        q = int(rng.integers(3))
        pick = rng.integers(4)
        if pick == 0:
            ops.append(Gate("cx", (q, (q + 1) % 3)))
        elif pick == 1:
            ops.append(Gate("ry", (q,), (Angle.symbol(f"t{k}") - 0.4,)))
        else:
            name = ["h", "s", "t", "sx", "x", "rz", "rx"][int(rng.integers(7))]
            angles = (Angle(float(rng.uniform(-3, 3))),) if GATES[name].num_angles else ()
            ops.append(Gate(name, (q,), angles))
    circuit = Circuit(3, [Segment("a", ops[:20]), Segment("b", ops[20:])])
    out = resynthesize_single_qubit(circuit, native)
    assert [s.name for s in out.segments] == ["a", "b"]
    assert out.used_symbols() == circuit.used_symbols()
    values = {s: float(rng.uniform(-3, 3)) for s in circuit.used_symbols()}
    assert_equivalent(out, circuit, bindings=values)
    assert sum(len(g.qubits) == 1 for g in out.gates()) <= sum(len(g.qubits) == 1 for g in circuit.gates()) * (
        1 if native == "any" else 5
    )


def test_cached_runs_equal_the_direct_synthesis():
    """``_flush`` answers repeated runs from a cache keyed by names and angles: each answer equals
    the product of the run re-expressed directly, for random runs with repeats."""
    import numpy as np

    from hqvit.ir.angles import Angle
    from hqvit.ir.circuit import Gate
    from hqvit.ir.gates import matrix
    from hqvit.passes.single_qubit import _flush, numeric_to_native

    rng = np.random.default_rng(3)
    names = ["sx", "x", "h", "rz", "ry", "rx", "s", "t"]
    pool = []
    for _ in range(40):
        run = []
        for name in rng.choice(names, size=int(rng.integers(1, 5))):
            angles = (Angle(float(rng.choice([0.5, np.pi / 2, -np.pi, 1.25]))),) if name in ("rz", "ry", "rx") else ()
            run.append(Gate(str(name), (0,), angles))
        pool.append(run)
    for i in rng.integers(0, len(pool), size=200):
        run, q = pool[i], int(rng.integers(0, 5))
        u = np.eye(2)
        for g in run:
            u = matrix(g) @ u
        moved = [g.on((q,)) for g in run]
        for native in ("ibm", "any"):
            one_pulse = native == "any" and len(run) == 1 and run[0].name in ("rx", "ry", "rz")
            assert _flush(moved, q, native) == (moved if one_pulse else numeric_to_native(u, q, native))
