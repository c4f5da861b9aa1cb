"""Equivalence of a compiled circuit with its logical circuit, layouts included.

Both circuits run on the same random product input: a Haar-random one-qubit state on each
logical qubit, placed on that qubit's initial physical qubit (every other physical qubit starts
in |0>). The physical state, read with logical qubit l at its final physical qubit and every
other physical qubit required to be back in |0>, must equal the logical state up to a global
phase. A random product input, unlike |0...0>, exposes a wrong initial layout and any gate that
acts trivially on |0> only; requiring the other qubits in |0> exposes a routing that leaves
state behind on an ancilla. Measurements are left out.

``layout_equivalence_error`` is the comparison itself, on statevectors from any simulator (the
compiler benchmark uses it on other tools' outputs); ``verify_compiled`` runs it on qsim.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hqvit.ir.circuit import Circuit, compact, without_measurements
from hqvit.ir.errors import InputError
from hqvit.passes.lower import lower

MAX_QUBITS = 20  # logical qubits, as the CLI promises
MAX_PHYSICAL = 24  # routing may pass through a few extra physical qubits


def random_product_input(num_qubits: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Haar-random 2x2 unitaries, one per logical qubit; applied to |0> they give the input."""
    out = []
    for _ in range(num_qubits):
        q, r = np.linalg.qr(rng.normal(size=(2, 2)) + 1j * rng.normal(size=(2, 2)))
        out.append(q * (np.diag(r) / abs(np.diag(r))))  # Haar-random (Mezzadri's phase fix)
    return out


def layout_equivalence_error(want: np.ndarray, got: np.ndarray, final_axes: Sequence[int]) -> float:
    """1 - |<want|got'>| / (|want| |got'|): ``got`` is the physical state over m qubits (axis k
    the k-th, most significant first), ``got'`` its part with logical qubit l on axis
    ``final_axes[l]`` and every other axis in |0>, in logical order. Normalised because qsim's
    complex64 arithmetic loses up to ~1e-3 of the norm over thousands of gates; 1.0 for an
    invalid final layout or when nothing is left in the subspace read."""
    if len(set(final_axes)) != len(final_axes):
        return 1.0
    m = got.size.bit_length() - 1
    state = got.reshape((2,) * m)
    others = [k for k in range(m) if k not in final_axes]
    state = state[tuple(0 if k in others else slice(None) for k in range(m))]
    kept = [k for k in range(m) if k not in others]
    state = np.transpose(state, [kept.index(a) for a in final_axes]).reshape(-1)
    norms = np.linalg.norm(want) * np.linalg.norm(state)
    if norms == 0:
        return 1.0
    return float(1.0 - abs(np.vdot(want, state)) / norms)


def _product_state(unitaries: list[np.ndarray], axes: Sequence[int], num_qubits: int) -> np.ndarray:
    """The big-endian statevector with ``unitaries[l] |0>`` on qubit ``axes[l]``, |0> elsewhere."""
    factors = [np.array([1.0, 0.0], dtype=np.complex128) for _ in range(num_qubits)]
    for u, k in zip(unitaries, axes, strict=True):
        factors[k] = u[:, 0]
    state = np.ones(1, dtype=np.complex128)
    for f in factors:
        state = np.kron(state, f)
    return state.astype(np.complex64)


def _state(circuit: Circuit, values: dict[str, float], initial: np.ndarray) -> np.ndarray:
    from hqvit.runtime.qsim_backend import QsimExecutor

    ex = QsimExecutor(circuit)
    data = np.array([values[s] for s in ex.data_symbols])
    train = np.array([values[s] for s in ex.trainable_symbols])
    return ex.final_state(data, train, initial).astype(np.complex128)


def verify_compiled(compiled, trials: int = 3, seed: int = 0) -> float:
    """Largest ``layout_equivalence_error`` over ``trials`` random bindings, each with its own
    random product input (0 means identical)."""
    initial, final = list(compiled.initial_layout), list(compiled.final_layout)
    logical = without_measurements(lower(compiled.logical))
    n_log = logical.num_qubits
    if len(set(initial)) != len(initial):
        return 1.0
    physical, remap = compact(without_measurements(compiled.circuit), keep=initial + final)
    if n_log > MAX_QUBITS or physical.num_qubits > MAX_PHYSICAL:
        raise InputError(
            f"--verify handles at most {MAX_QUBITS} logical / {MAX_PHYSICAL} physical qubits; "
            f"this circuit has {n_log} / {physical.num_qubits}"
        )
    rng = np.random.default_rng(seed)
    worst = 0.0
    for _ in range(trials):
        values = {s: float(rng.uniform(-np.pi, np.pi)) for s in logical.symbols}
        prep = random_product_input(n_log, rng)
        want = _state(logical, values, _product_state(prep, range(n_log), n_log))
        start = _product_state(prep, [remap[p] for p in initial], physical.num_qubits)
        got = _state(physical, values, start)
        worst = max(worst, layout_equivalence_error(want, got, [remap[p] for p in final]))
    return worst
