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

from .qsim_backend import QsimOptions


class TrajectorySimulator:
    def __init__(self, noisy_circuit: cirq.Circuit, qubit_order: list[cirq.Qid], options: QsimOptions | None = None):
        self.qubits = list(qubit_order)
        program = qsimcirq.QSimCircuit(noisy_circuit)
        self.translated, _ = program.translate_cirq_to_qtrajectory(self.qubits)
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
