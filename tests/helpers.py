"""Shared oracles for the tests: Cirq state vectors and unitaries of IR circuits."""

import cirq
import numpy as np

from hqvit.ir.circuit import Circuit, Segment
from hqvit.ir.cirq_export import to_cirq


def state_of(circuit: Circuit, bindings: dict[str, float]) -> np.ndarray:
    c = to_cirq(circuit, bindings, measurements=False)
    qubits = cirq.LineQubit.range(circuit.num_qubits)
    return cirq.final_state_vector(c, qubit_order=qubits, dtype=np.complex128, ignore_terminal_measurements=True)


def unitary_of(circuit: Circuit, bindings: dict[str, float]) -> np.ndarray:
    c = to_cirq(circuit, bindings, measurements=False)
    qubits = cirq.LineQubit.range(circuit.num_qubits)
    return c.unitary(qubit_order=qubits, dtype=np.complex128)


def equal_up_to_phase(a: np.ndarray, b: np.ndarray, atol: float = 1e-8) -> bool:
    return cirq.allclose_up_to_global_phase(a, b, atol=atol)


def one_segment(n: int, ops: list) -> Circuit:
    """An n-qubit circuit with ``ops`` in a single ``main`` segment."""
    return Circuit(n, [Segment("main", ops)])
