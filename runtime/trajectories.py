"""Noisy statevector trajectories on qsim, translated once.

qsimcirq's public ``simulate`` re-translates the noisy circuit on every call (~50 ms for a small
circuit); here the circuit is translated to qsim's NoisyCircuit once and each trajectory is one
call into qsim with its own seed, so results are reproducible given the seed.
"""

from __future__ import annotations

from collections.abc import Iterator

import cirq
import numpy as np
import qsimcirq
from qsimcirq import qsim

from hqvit.ir.resources import check_simulable
from hqvit.runtime.qsim_backend import QsimOptions


class NoisyTemplate:
    """A noisy circuit with symbolic angles, translated for qsim once per binding at low cost.

    qsimcirq's translation recomputes every channel's Kraus operators, singular values and gate
    decompositions on each call (seconds for a compiled HQViT circuit with idle noise). The
    noise does not depend on the angles, so here the channel data and the decomposed gates are
    prepared once, in the order and with the time steps qsimcirq's own translator uses, and a
    binding only resolves the parameterized gates (``translate``).
    """

    def __init__(self, noisy_circuit: cirq.Circuit, qubit_order: list[cirq.Qid]):
        from qsimcirq.qsim_circuit import _has_cirq_gate_kind

        self.qubits = list(qubit_order)
        index = {q: i for i, q in enumerate(reversed(self.qubits))}  # qsim numbers qubits in reverse
        self.index = index
        self.steps: list[tuple] = []  # ("gate", op, time, parameterized) | ("channel", time, qubits, data)
        time = 0
        for moment in noisy_circuit:
            length, gates, channels = 0, [], []
            for op in moment:
                if cirq.is_parameterized(op) or cirq.has_unitary(op) or cirq.is_measurement(op):
                    parts = (
                        [op]
                        if cirq.is_parameterized(op)
                        else cirq.decompose(op, fallback_decomposer=_to_matrix, keep=_has_cirq_gate_kind)
                    )
                    gates.append(parts)
                    length = max(length, len(parts))
                elif cirq.has_mixture(op):
                    channels.append((time, [index[q] for q in op.qubits], _mixture_data(op)))
                    length = max(length, 1)
                elif cirq.has_kraus(op):
                    channels.append((time, [index[q] for q in op.qubits], _kraus_data(op)))
                    length = max(length, 1)
                else:
                    raise ValueError(f"cannot translate operation {op}")
            for gi in range(length):
                for parts in gates:
                    if gi < len(parts):
                        self.steps.append(("gate", parts[gi], time + gi, cirq.is_parameterized(parts[gi])))
                if gi == 0:
                    self.steps += [("channel", *c) for c in channels]
            time += length

    def translate(self, resolver: cirq.ParamResolverOrSimilarType = None):
        from qsimcirq.qsim_circuit import add_op_to_circuit

        resolver = cirq.ParamResolver(resolver)
        circuit = qsim.NoisyCircuit()
        circuit.num_qubits = len(self.qubits)
        for step in self.steps:
            if step[0] == "gate":
                _, op, time, parameterized = step
                if parameterized:
                    op = cirq.resolve_parameters(op, resolver)
                add_op_to_circuit(op, time, self.index, circuit)
            else:
                _, time, qubits, data = step
                qsim.add_channel(time, qubits, data, circuit)
        return circuit


def _to_matrix(op: cirq.Operation):
    mat = cirq.unitary(op.gate, None)
    return NotImplemented if mat is None else cirq.MatrixGate(mat).on(*op.qubits)


def _mixture_data(op: cirq.Operation) -> list:
    out = []
    for prob, mat in cirq.mixture(op):
        square = np.reshape(mat, (int(np.sqrt(mat.size)), -1))
        out.append((prob, np.reshape(mat, (-1,)).astype(np.complex64).view(np.float32), cirq.is_unitary(square)))
    return out


def _kraus_data(op: cirq.Operation) -> list:
    out = []
    for mat in cirq.kraus(op):
        square = np.reshape(mat, (int(np.sqrt(mat.size)), -1))
        lower = float(min(np.linalg.svd(square)[1]) ** 2)
        out.append((lower, np.reshape(mat, (-1,)).astype(np.complex64).view(np.float32), cirq.is_unitary(square)))
    return out


class TrajectorySimulator:
    def __init__(
        self,
        noisy_circuit: cirq.Circuit | None,
        qubit_order: list[cirq.Qid],
        options: QsimOptions | None = None,
        translated=None,
    ):
        """Translate ``noisy_circuit`` with qsimcirq, or take a ``translated`` one (``NoisyTemplate``)."""
        self.qubits = list(qubit_order)
        check_simulable(len(self.qubits), "the noisy circuit")  # before translating or allocating
        if translated is None:
            program = qsimcirq.QSimCircuit(noisy_circuit)
            translated, _ = program.translate_cirq_to_qtrajectory(self.qubits)
        self.translated = translated
        self.options = (options or QsimOptions()).as_dict()
        self.options["c"] = self.translated
        self._zero = np.zeros(1 << len(self.qubits), dtype=np.complex64)
        self._zero[0] = 1.0

    def states(self, trajectories: int, seed: int = 0) -> Iterator[np.ndarray]:
        """Final states (complex64, big-endian in ``qubit_order``) of independent trajectories."""
        rng = np.random.default_rng(seed)
        for s in rng.integers(0, 2**31 - 1, size=trajectories):
            self.options["s"] = int(s)
            out = qsim.qtrajectory_simulate_fullstate(self.options, self._zero.view(np.float32))
            yield out.view(np.complex64)


def trajectory_fidelity(
    noisy: cirq.Circuit, ideal_state: np.ndarray, qubits: list[cirq.Qid], trajectories: int, seed: int = 0
) -> tuple[float, float]:
    """Mean |<ideal|psi_r>|^2 over trajectories and its standard error."""
    sim = TrajectorySimulator(noisy, qubits)
    f = np.array([abs(np.vdot(ideal_state, psi)) ** 2 for psi in sim.states(trajectories, seed)])
    return float(f.mean()), float(f.std(ddof=1) / np.sqrt(len(f)))
