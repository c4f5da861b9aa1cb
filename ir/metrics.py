"""Resource figures of a lowered circuit: gate counts by arity and ASAP depth."""

from __future__ import annotations

from hqvit.ir.circuit import Circuit


def gate_counts(circuit: Circuit) -> dict[str, int]:
    one = two = more = cx = 0
    for g in circuit.gates():
        k = len(g.qubits)
        one += k == 1
        two += k == 2
        more += k > 2
        cx += g.name == "cx"
    return {"one_qubit_gates": one, "two_qubit_gates": two, "multi_qubit_gates": more, "cnots": cx}


def depth(circuit: Circuit, min_arity: int = 1) -> int:
    """Layers of an ASAP schedule counting only gates on at least ``min_arity`` qubits."""
    level = [0] * circuit.num_qubits
    for g in circuit.gates():
        if len(g.qubits) < min_arity:
            continue
        d = max(level[q] for q in g.qubits) + 1
        for q in g.qubits:
            level[q] = d
    return max(level, default=0)
