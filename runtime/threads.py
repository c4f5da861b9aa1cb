"""Thread counts for torch and qsim when ``--threads`` is not given: by circuit size and idle cores.

A second thread pays only when a state is large enough that splitting each gate's pass over it
outweighs the per-gate synchronization, and only when a core is actually free: torch's and
qsim's threads wait for each other at every gate, so a thread that shares its core with another
busy process stalls both. Measured on the 2-core VM, 2026-12-04, training path (adjoint sweep,
closed-form encoded state, batches of 32; ``benchmarks/thread_scaling.py``,
``benchmarks/results/2026-12-04-vm-threads.json``), samples/s with 1 / 2 threads while other
work kept the load average at 7: 12 qubits 777 / 40, 14 qubits 249 / 7, 16 qubits 41 / 6 (2
threads 5-20x slower at every size). On the same VM without the other load, the peers with a
state-vector loop of the same kind gain from a second thread at 16 qubits (issue 13: qulacs
62 -> 82, torchquantum 50 -> 96 samples/s) and not at 12. Hence: one thread below
``PAYS_FROM_QUBITS`` logical qubits; from there as many as there are idle cores (cores this
process may use minus the 1-minute load average, at least one).
"""

from __future__ import annotations

import math
import os

PAYS_FROM_QUBITS = 16


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, which containers restrict)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - platforms without affinity
        return max(1, os.cpu_count() or 1)


def idle_cores(cores: int | None = None, load: float | None = None) -> int:
    """``cores`` (default: ``available_cores``) minus the 1-minute load average, at least 1."""
    cores = available_cores() if cores is None else cores
    load = os.getloadavg()[0] if load is None else load
    return max(1, cores - math.floor(load))


def threads_for(qubits: int, cores: int | None = None, load: float | None = None) -> int:
    """1 below ``PAYS_FROM_QUBITS`` logical qubits, else the idle cores."""
    return 1 if qubits < PAYS_FROM_QUBITS else idle_cores(cores, load)
