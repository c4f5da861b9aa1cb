"""ASAP scheduling into moments, with the target's durations.

Moments are ASAP layers: a gate goes one layer after the last gate on any of its qubits, so the
order of gates on every qubit is kept and the circuit's meaning is unchanged. A moment lasts as
long as its slowest gate; a qubit idles in a moment for that time minus its own gate's. These
idle windows feed the noise model and the success-probability estimate, so both see the same
timeline. All measurements form the last moment.
"""

from __future__ import annotations

from dataclasses import dataclass

from compiler.ir import Circuit, Gate
from targets import Target


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


def serialize_crosstalk(schedule: Schedule, target: Target) -> Schedule:
    """Move a two-qubit gate to a new moment of its own when it shares a moment with a gate on a
    coupler the target declares as crosstalking with its own. Order on every qubit is kept: the
    moved gate goes to a moment inserted right after, before anything that followed it."""
    if not target.crosstalk:
        return schedule
    bad = {frozenset((tuple(sorted(a)), tuple(sorted(b)))) for a, b in target.crosstalk}
    out: list[list[Gate]] = []
    queue = [list(m) for m in schedule.moments]
    while queue:
        moment = queue.pop(0)
        kept, moved = [], []
        for g in moment:
            edge = tuple(sorted(g.qubits))
            clash = len(g.qubits) == 2 and any(
                len(k.qubits) == 2 and frozenset((edge, tuple(sorted(k.qubits)))) in bad for k in kept
            )
            (moved if clash else kept).append(g)
        out.append(kept)
        if moved:
            queue.insert(0, moved)
    return Schedule(out, schedule.measured, schedule.num_qubits)
