"""ASAP scheduling into moments, with the target's durations.

Moments are ASAP layers: a gate goes one layer after the last gate on any of its qubits, so the
order of gates on every qubit is kept and the circuit's meaning is unchanged. A moment lasts as
long as its slowest gate; a qubit idles in a moment for that time minus its own gate's. These
idle windows feed the noise model and the success-probability estimate, so both see the same
timeline. All measurements form the last moment.

``offsets`` lets an operation start later than its moment's start (ns from it, per (moment,
qubit); absent = 0): dynamical decoupling puts a pi pulse inside a long moment where its qubit is
otherwise idle, e.g. in the middle of a neighbour's two-qubit gate. An offset operation must
still end within its moment, so moment durations (and everybody's timing) are unchanged; the
noisy simulator's coherent idle terms split at it (runtime/noisy_program.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hqvit.ir.circuit import Circuit, Gate, Measure
from hqvit.ir.metrics import gate_layers
from hqvit.passes.base import PassContext


@dataclass
class Schedule:
    moments: list[list[Gate]]
    measured: tuple[int, ...]
    num_qubits: int
    offsets: dict[tuple[int, int], float] = field(default_factory=dict)  # (moment, qubit) -> ns

    def offset(self, moment: int, qubit: int) -> float:
        """When ``qubit``'s operation in ``moment`` starts, in ns after the moment's start."""
        return self.offsets.get((moment, qubit), 0.0)

    def depth(self) -> int:
        return len(self.moments)


def _gates_and_measured(circuit: Circuit) -> tuple[list[Gate], tuple[int, ...]]:
    """``list(circuit.gates())`` and ``circuit.measured_qubits()`` in one walk."""
    gates: list[Gate] = []
    measured: list[int] = []
    for seg in circuit.segments:
        for op in seg.ops:
            if isinstance(op, Gate):
                gates.append(op)
            elif isinstance(op, Measure):
                measured.extend(op.qubits)
    return gates, tuple(measured)


def schedule_asap(circuit: Circuit) -> Schedule:
    gates, measured = _gates_and_measured(circuit)
    return Schedule(gate_layers(gates, circuit.num_qubits), measured, circuit.num_qubits)


def schedule_alap(circuit: Circuit) -> Schedule:
    """As late as possible: ASAP layering of the reversed circuit, read backwards. A qubit's first
    gate moves as late as its dependencies allow, so it spends less time exposed to decoherence
    (a qubit still in |0> neither relaxes nor dephases)."""
    gates, measured = _gates_and_measured(circuit)
    reversed_layers = gate_layers(reversed(gates), circuit.num_qubits)
    # each layer back in program order (cosmetic: its gates are disjoint)
    moments = [layer[::-1] for layer in reversed_layers[::-1]]
    return Schedule(moments, measured, circuit.num_qubits)


# the circuit is returned as it came (``hqvit.compiler.passmanager`` keeps its figures)
PRESERVES_CIRCUIT = True


def run(circuit: Circuit, ctx: PassContext) -> Circuit:
    """ALAP when the preset optimizes (qubits stay in |0> until needed), else ASAP; the schedule
    goes to ``ctx.properties["schedule"]``, the circuit is unchanged."""
    scheduler = schedule_alap if ctx.options.get("alap") else schedule_asap
    ctx.properties["schedule"] = scheduler(circuit)
    return circuit
