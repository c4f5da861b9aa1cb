"""ASAP scheduling into moments, with the target's durations.

Moments are ASAP layers: a gate goes one layer after the last gate on any of its qubits, so the
order of gates on every qubit is kept and the circuit's meaning is unchanged. A moment lasts as
long as its slowest gate; a qubit idles in a moment for that time minus its own gate's. These
idle windows feed the noise model and the success-probability estimate, so both see the same
timeline. All measurements form the last moment.
"""

from __future__ import annotations

from dataclasses import dataclass

from hqvit.ir.circuit import Circuit, Gate
from hqvit.passes.base import PassContext


@dataclass
class Schedule:
    moments: list[list[Gate]]
    measured: tuple[int, ...]
    num_qubits: int

    def depth(self) -> int:
        return len(self.moments)


def schedule_asap(circuit: Circuit) -> Schedule:
    level = [0] * circuit.num_qubits
    moments: list[list[Gate]] = []
    for g in circuit.gates():
        d = max(level[q] for q in g.qubits)
        if d == len(moments):
            moments.append([])
        moments[d].append(g)
        for q in g.qubits:
            level[q] = d + 1
    return Schedule(moments, circuit.measured_qubits(), circuit.num_qubits)


def schedule_alap(circuit: Circuit) -> Schedule:
    """As late as possible: ASAP layering of the reversed circuit, read backwards. A qubit's first
    gate moves as late as its dependencies allow, so it spends less time exposed to decoherence
    (a qubit still in |0> neither relaxes nor dephases)."""
    gates = list(circuit.gates())
    level = [0] * circuit.num_qubits
    rev_levels = []
    for g in reversed(gates):
        d = max(level[q] for q in g.qubits)
        rev_levels.append(d)
        for q in g.qubits:
            level[q] = d + 1
    depth = max(level, default=0)
    moments: list[list[Gate]] = [[] for _ in range(depth)]
    for g, d in zip(reversed(gates), rev_levels, strict=True):
        moments[depth - 1 - d].append(g)
    for m in moments:
        m.reverse()  # keep program order inside a moment (cosmetic: its gates are disjoint)
    return Schedule(moments, circuit.measured_qubits(), circuit.num_qubits)


def run(circuit: Circuit, ctx: PassContext) -> Circuit:
    """ALAP when the preset optimizes (qubits stay in |0> until needed), else ASAP; the schedule
    goes to ``ctx.properties["schedule"]``, the circuit is unchanged."""
    scheduler = schedule_alap if ctx.options.get("alap") else schedule_asap
    ctx.properties["schedule"] = scheduler(circuit)
    return circuit
