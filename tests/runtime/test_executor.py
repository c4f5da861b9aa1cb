"""The qsim fast path against Cirq's simulator, gate by gate and on random circuits."""

import cirq
import numpy as np
import pytest

from hqvit.ir.angles import Angle
from hqvit.ir.circuit import Circuit, Gate, Segment
from hqvit.ir.gates import GATES
from hqvit.ir.resources import check_simulable
from hqvit.runtime.qsim_backend import QsimExecutor
from tests.helpers import random_circuit, state_of


@pytest.mark.parametrize("name", sorted(GATES))
def test_every_gate_matches_cirq(name, rng):
    spec = GATES[name]
    n = spec.num_qubits + 1
    prep = [Gate("ry", (q,), (Angle(float(rng.uniform(0, 3))),)) for q in range(n)]
    prep += [Gate("rz", (q,), (Angle(float(rng.uniform(0, 3))),)) for q in range(n)]
    gate = Gate(
        name, tuple(range(n - 1, 0, -1)), tuple(Angle(float(rng.uniform(-3, 3))) for _ in range(spec.num_angles))
    )
    circuit = Circuit(n, [Segment("encode", prep), Segment("rest", [gate])])
    ex = QsimExecutor(circuit)
    got = ex.final_state(np.zeros(0), np.zeros(0))
    assert cirq.allclose_up_to_global_phase(got, state_of(circuit, {}), atol=2e-6)


@pytest.mark.parametrize("seed", range(12))
def test_random_symbolic_circuits_match_cirq(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 7))
    circuit, bindings = random_circuit(rng, n, 40, symbolic=True)
    ex = QsimExecutor(circuit)
    values = np.array([bindings[s] for s in ex.trainable_symbols])
    got = ex.final_state(np.zeros(0), values)
    assert cirq.allclose_up_to_global_phase(got, state_of(circuit, bindings), atol=5e-6)


def test_too_many_qubits_is_refused_before_allocation():
    from hqvit.ir.errors import InputError

    with pytest.raises(InputError, match="40 qubits"):
        check_simulable(40)
