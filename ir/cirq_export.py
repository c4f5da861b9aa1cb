"""Export IR circuits to ``cirq.Circuit``: symbolic (sympy angles) or bound to numbers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import cirq

from hqvit.ir.circuit import Circuit, Gate, Measure
from hqvit.ir.gates import angle_to_sympy, gate_spec


def default_qubits(n: int) -> list[cirq.Qid]:
    return list(cirq.LineQubit.range(n))


def to_cirq(
    circuit: Circuit,
    bindings: Mapping[str, float] | None = None,
    qubits: Sequence[cirq.Qid] | None = None,
    measurements: bool = True,
    segments: Sequence[str] | None = None,
) -> cirq.Circuit:
    """Gates in order (moments by cirq's earliest insertion). High-level ops must be lowered first."""
    if not circuit.is_lowered():
        raise ValueError("lower the circuit before exporting it to cirq")
    qs = list(qubits) if qubits is not None else default_qubits(circuit.num_qubits)
    ops: list[cirq.Operation] = []
    for seg in circuit.segments:
        if segments is not None and seg.name not in segments:
            continue
        for op in seg.ops:
            if isinstance(op, Gate):
                if bindings is None:
                    args = [angle_to_sympy(a) for a in op.angles]
                else:
                    args = [a.bind(bindings) for a in op.angles]
                ops.append(gate_spec(op.name).to_cirq(*args).on(*(qs[q] for q in op.qubits)))
            elif isinstance(op, Measure) and measurements:
                ops.append(cirq.measure(*(qs[q] for q in op.qubits), key="m"))
    return cirq.Circuit(ops)
