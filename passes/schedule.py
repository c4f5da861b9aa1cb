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


def gate_duration(target: Target, name: str, qubits: tuple[int, ...]) -> float:
    if len(qubits) == 1:
        return 0.0 if (target.virtual_z and name == "rz") else target.durations_ns["one_qubit"]
    if len(qubits) == 2:
        return target.two_qubit_duration(*qubits)
    # a three-qubit gate on a device that has none: the time of its 8-CNOT expansion
    return 8 * target.durations_ns["two_qubit"]
