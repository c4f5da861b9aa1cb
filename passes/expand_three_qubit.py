"""Pass: Toffoli and Fredkin gates become CNOTs and single-qubit gates, before routing.

Correct because each expansion is the textbook identity (Toffoli: 6 CNOTs and 7 T gates, Nielsen
& Chuang Fig. 4.9; Fredkin = CNOT(b,a) Toffoli(c,a,b) CNOT(b,a)); tests/passes/test_native.py checks
both against the gates' unitaries.
"""

from __future__ import annotations

from hqvit.ir.circuit import Circuit, Gate, Segment
from hqvit.passes.base import PassContext


def expand_three_qubit(g: Gate) -> list[Gate]:
    """Toffoli: the standard 6-CNOT, 7-T circuit; Fredkin = CNOT(b,a) Toffoli(c,a,b) CNOT(b,a)."""
    if g.name == "ccx":
        c1, c2, t = g.qubits
        return [
            Gate("h", (t,)),
            Gate("cx", (c2, t)),
            Gate("tdg", (t,)),
            Gate("cx", (c1, t)),
            Gate("t", (t,)),
            Gate("cx", (c2, t)),
            Gate("tdg", (t,)),
            Gate("cx", (c1, t)),
            Gate("t", (c2,)),
            Gate("t", (t,)),
            Gate("h", (t,)),
            Gate("cx", (c1, c2)),
            Gate("t", (c1,)),
            Gate("tdg", (c2,)),
            Gate("cx", (c1, c2)),
        ]
    if g.name == "cswap":
        c, a, b = g.qubits
        return [Gate("cx", (b, a)), *expand_three_qubit(Gate("ccx", (c, a, b))), Gate("cx", (b, a))]
    return [g]


def expand_three_qubit_gates(circuit: Circuit) -> Circuit:
    """Rewrite Toffoli and Fredkin gates as CNOTs and single-qubit gates (before routing)."""
    return circuit.with_segments(
        [
            Segment(s.name, [x for op in s.ops for x in (expand_three_qubit(op) if isinstance(op, Gate) else [op])])
            for s in circuit.segments
        ]
    )


def run(circuit: Circuit, ctx: PassContext) -> Circuit:
    return expand_three_qubit_gates(circuit)
