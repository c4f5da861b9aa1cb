"""Thread counts for torch and qsim when ``--threads`` is not given: by circuit size and cores.

A second thread pays only when a state is large enough that splitting each pass over it (a
fused block's matmul, a permutation, the readout) outweighs the per-call synchronization. The
peers' gate-by-gate loops gain from a second thread at 16 qubits on an otherwise idle 2-core VM
(qulacs 62 -> 82, torchquantum 50 -> 96 samples/s); our fused training path does not: at 16
qubits (MNIST 16x16) two threads measured slower than one in three runs on the 2-core VM
(2026-12-05: 160 vs 218 samples/s in the peer benchmark; 141 vs 319 and 103 vs 679 in the
distributed benchmark's one-process rows, load 2-12). So one thread up to 16 qubits; from 17
(MNIST 32x32 is 20-21) every core, where states are 2-32x larger (not measured here).
``benchmarks/thread_scaling.py`` measures the path at 12, 14 and 16 qubits.

The rule depends only on the circuit and the machine, never on the momentary load: a run is
then reproducible (the same thread count, so the same float32 summation order) whatever else
the machine is doing. On a shared machine, ``--threads`` overrides it.
"""

from __future__ import annotations

import os

PAYS_FROM_QUBITS = 17


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, which containers restrict)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - platforms without affinity
        return max(1, os.cpu_count() or 1)


def idle_cores(cores: int | None = None, load: float | None = None) -> int:
    """The cores the rule hands out: ``cores`` or ``available_cores``. Kept under its earlier name
    for callers that split them between ranks; ``load`` is accepted and ignored (see above)."""
    del load
    return max(1, available_cores() if cores is None else cores)


def threads_for(qubits: int, cores: int | None = None, load: float | None = None) -> int:
    """1 below ``PAYS_FROM_QUBITS`` logical qubits, else every core this process may use
    (``cores`` when given). ``load`` is accepted for older callers and ignored."""
    if qubits < PAYS_FROM_QUBITS:
        return 1
    return idle_cores(cores, load)
