"""Equivalence of a compiled circuit with its logical circuit, on random bindings.

Both are simulated to a statevector (qsim). The compiled state, read with logical qubit l at its
final physical position and every other physical qubit in |0>, must equal the logical state up
to a global phase. Measurements are left out.
"""

from __future__ import annotations

import numpy as np

from hqvit.ir.circuit import Circuit, Measure, Segment, compact
from hqvit.ir.errors import InputError
from hqvit.passes.lower import lower

MAX_QUBITS = 20  # logical qubits, as the CLI promises
MAX_PHYSICAL = 24  # routing may pass through a few extra physical qubits


def _strip(circuit: Circuit) -> Circuit:
    segs = [Segment(s.name, [op for op in s.ops if not isinstance(op, Measure)]) for s in circuit.segments]
    return circuit.with_segments(segs)


def _state(circuit: Circuit, values: dict[str, float]) -> np.ndarray:
    from hqvit.runtime.qsim_backend import QsimExecutor

    ex = QsimExecutor(circuit)
    data = np.array([values[s] for s in ex.data_symbols])
    train = np.array([values[s] for s in ex.trainable_symbols])
    return ex.final_state(data, train).astype(np.complex128)


def verify_compiled(compiled, trials: int = 3, seed: int = 0) -> float:
    """Largest 1 - |<logical|compiled>| over ``trials`` random bindings (0 means identical)."""
    logical = _strip(lower(compiled.logical))
    physical, remap = compact(_strip(compiled.circuit), keep=compiled.final_layout)
    n_log = logical.num_qubits
    if n_log > MAX_QUBITS or physical.num_qubits > MAX_PHYSICAL:
        raise InputError(
            f"--verify handles at most {MAX_QUBITS} logical / {MAX_PHYSICAL} physical qubits; "
            f"this circuit has {n_log} / {physical.num_qubits}"
        )
    positions = [remap[p] for p in compiled.final_layout]
    others = [q for q in range(physical.num_qubits) if q not in positions]
    rng = np.random.default_rng(seed)
    worst = 0.0
    for _ in range(trials):
        values = {s: float(rng.uniform(-np.pi, np.pi)) for s in logical.symbols}
        want = _state(logical, values)
        got = _state(physical, values).reshape((2,) * physical.num_qubits)
        got = got[tuple(0 if q in others else slice(None) for q in range(physical.num_qubits))]
        kept = [q for q in range(physical.num_qubits) if q not in others]
        axes = [kept.index(p) for p in positions]
        got = np.transpose(got, axes).reshape(-1)
        worst = max(worst, 1.0 - abs(np.vdot(want, got)))
    return worst
