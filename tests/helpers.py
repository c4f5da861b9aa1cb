"""Shared oracles for the tests: Cirq state vectors and unitaries of IR circuits, random circuits,
and ``assert_equivalent``, the one equivalence check every pass test uses."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import cirq
import numpy as np

from hqvit.ir.angles import Angle
from hqvit.ir.circuit import Circuit, Gate, Segment, compact
from hqvit.ir.cirq_export import to_cirq
from hqvit.ir.gates import GATES
from hqvit.passes.lower import lower


def state_of(circuit: Circuit, bindings: dict[str, float]) -> np.ndarray:
    c = to_cirq(circuit, bindings, measurements=False)
    qubits = cirq.LineQubit.range(circuit.num_qubits)
    return cirq.final_state_vector(c, qubit_order=qubits, dtype=np.complex128, ignore_terminal_measurements=True)


def unitary_of(circuit: Circuit, bindings: dict[str, float]) -> np.ndarray:
    c = to_cirq(circuit, bindings, measurements=False)
    qubits = cirq.LineQubit.range(circuit.num_qubits)
    return c.unitary(qubit_order=qubits, dtype=np.complex128)


def one_segment(n: int, ops: list) -> Circuit:
    """An n-qubit circuit with ``ops`` in a single ``main`` segment."""
    return Circuit(n, [Segment("main", ops)])


def random_circuit(rng, n: int, depth: int, symbolic: bool) -> tuple[Circuit, dict[str, float]]:
    """``depth`` random IR gates (every kind) on ``n`` qubits in two segments; with ``symbolic``
    most angles are affine in a fresh symbol. Returns the circuit and a binding of its symbols."""
    names = sorted(GATES)
    ops, symbols, bindings = [], {}, {}
    for k in range(depth):
        name = names[rng.integers(len(names))]
        spec = GATES[name]
        if spec.num_qubits > n:
            continue
        qubits = tuple(int(q) for q in rng.choice(n, spec.num_qubits, replace=False))
        angles = []
        for _ in range(spec.num_angles):
            if symbolic and rng.uniform() < 0.7:
                s = f"t{k}"
                symbols[s] = "trainable"
                bindings[s] = float(rng.uniform(-math.pi, math.pi))
                angles.append(Angle.symbol(s, float(rng.choice([1.0, -2.0, 0.5]))) + float(rng.uniform(-1, 1)))
            else:
                angles.append(Angle(float(rng.uniform(-2 * math.pi, 2 * math.pi))))
        ops.append(Gate(name, qubits, tuple(angles)))
    half = len(ops) // 2
    return Circuit(n, [Segment("encode", ops[:half]), Segment("rest", ops[half:])], symbols), bindings


# -- equivalence -------------------------------------------------------------------------------
EXACT_MAX_AMPLITUDES = 1 << 18  # exact mode while 2^logical x 2^physical stays within this
# whole compiles: the sqrt_iswap templates are numeric, exact to ~1e-7 each (5e-7 seen on 40-gate
# circuits); every other target compiles to within 1e-13
COMPILED_ATOL = 1e-5


class _Operand:
    """One side of a comparison: how many qubits, which symbols, and its evolution of a batch of
    input columns (a tensor of shape (2,) * width + (columns,), qubit 0 most significant)."""

    def __init__(self, value, keep: Sequence[int] | None):
        self.remap: dict[int, int] | None = None
        if isinstance(value, np.ndarray):
            self.kind, self.matrix = "unitary", np.asarray(value, dtype=np.complex128)
            self.width = int(round(math.log2(self.matrix.shape[0])))
            if self.matrix.shape != (1 << self.width, 1 << self.width):
                raise TypeError(f"a unitary must be a 2^n x 2^n matrix, got shape {self.matrix.shape}")
            self.symbols: set[str] = set()
        elif isinstance(value, cirq.Circuit):
            self.kind = "cirq"
            self.cirq = cirq.Circuit(op for op in value.all_operations() if not cirq.is_measurement(op))
            self.qubits = sorted(self.cirq.all_qubits())
            self.width = len(self.qubits)
            self.symbols = set(cirq.parameter_names(self.cirq))
        elif isinstance(value, Circuit):
            self.kind = "ir"
            circuit = value if value.is_lowered() else lower(value)
            self.symbols = circuit.used_symbols()
            if keep is not None:  # physical side: drop qubits no gate and no layout touches
                circuit, self.remap = compact(circuit, keep=tuple(keep))
            self.circuit = circuit
            self.width = circuit.num_qubits
        else:
            raise TypeError(f"cannot compare a {type(value).__name__}: give a Circuit, a cirq.Circuit or a unitary")

    def evolve(self, tensor: np.ndarray, values: Mapping[str, float]) -> np.ndarray:
        if self.kind == "unitary":
            cols = tensor.shape[-1]
            return (self.matrix @ tensor.reshape(-1, cols)).reshape(tensor.shape)
        if self.kind == "cirq":
            circuit, qubits = cirq.resolve_parameters(self.cirq, dict(values)), self.qubits
        else:
            qubits = cirq.LineQubit.range(self.width)
            circuit = to_cirq(self.circuit, values, qubits, measurements=False)
        args = cirq.ApplyUnitaryArgs(tensor, np.empty_like(tensor), range(self.width))
        return cirq.apply_unitaries(circuit.all_operations(), qubits, args)


def _basis_index(columns: int, n: int, axes: Sequence[int]) -> np.ndarray:
    """For each logical basis state k < 2^n: its bits (qubit 0 first) on ``axes``, 0 elsewhere."""
    width = max(axes, default=-1) + 1
    index = np.zeros((columns, width), dtype=np.int64)
    k = np.arange(columns)
    for logical, axis in enumerate(axes):
        index[:, axis] = (k >> (n - 1 - logical)) & 1
    return index


def _embed(columns: np.ndarray, n: int, axes: Sequence[int], width: int) -> np.ndarray:
    """The tensor (2,) * width + (c,) holding ``columns`` (2^n x c) with logical qubit l on axis
    ``axes[l]`` and every other axis in |0>."""
    tensor = np.zeros((2,) * width + (columns.shape[1],), dtype=np.complex128)
    index = np.zeros((1 << n, width), dtype=np.int64)
    index[:, : max(axes, default=-1) + 1] = _basis_index(1 << n, n, axes)
    tensor[tuple(index.T)] = columns
    return tensor


def _read(tensor: np.ndarray, n: int, axes: Sequence[int]) -> np.ndarray:
    """The 2^n x c part of ``tensor`` with logical qubit l on axis ``axes[l]``, every other axis |0>."""
    width = tensor.ndim - 1
    index = np.zeros((1 << n, width), dtype=np.int64)
    index[:, : max(axes, default=-1) + 1] = _basis_index(1 << n, n, axes)
    return tensor[tuple(index.T)]


def _check_layout(name: str, layout: Sequence[int], n: int, width: int) -> None:
    assert len(layout) == n, f"{name} {list(layout)} has {len(layout)} entries for {n} logical qubits"
    assert len(set(layout)) == n, f"{name} {list(layout)} is not injective"
    assert all(0 <= p < width for p in layout), f"{name} {list(layout)} is outside 0..{width - 1}"


def assert_equivalent(
    actual,
    expected=None,
    *,
    initial_layout: Sequence[int] | None = None,
    final_layout: Sequence[int] | None = None,
    bindings: Mapping[str, float] | Sequence[Mapping[str, float]] | None = None,
    trials: int = 3,
    seed: int = 0,
    atol: float = 1e-8,
    exact: bool | None = None,
    up_to_phase: bool = True,
) -> float:
    """Assert that ``actual`` does what ``expected`` does, and return the deviation.

    ``actual``: an IR ``Circuit`` (physical when layouts are given), a compiled circuit (anything
    with ``circuit``, ``logical``, ``initial_layout`` and ``final_layout``; those are then the
    defaults of ``expected`` and the layouts), a ``cirq.Circuit`` or a unitary matrix.
    ``expected``: the logical reference on n qubits, of the same kinds (not compiled).

    Logical qubit l starts on physical qubit ``initial_layout[l]`` and ends on
    ``final_layout[l]`` (identity by default; ``final_layout`` defaults to ``initial_layout``);
    every other physical qubit must start and end in |0>. Measurements are left out; high-level
    ops are lowered; physical qubits nothing touches are dropped. Cirq circuits use their sorted
    qubits, which the layouts then index.

    Each binding of the symbols (``bindings``: one mapping or several; by default ``trials`` draws
    uniform in [-pi, pi) from ``seed``, one when nothing is symbolic in exact mode) is checked
    ``exact``ly, on every logical basis input (the whole unitary on the logical subspace; the
    default while 2^n x 2^physical <= 2^18), or else on one Haar-random logical input state.

    The deviation is the largest distance ||A psi - e^(i phi) U psi|| over the inputs psi checked,
    with one global phase phi per binding (phi = 0 when ``up_to_phase`` is false); it fails
    above ``atol`` with a message giving the deviation, where, and the norm left in the subspace
    read (below 1: state left on other physical qubits, or the wrong final layout).
    """
    if hasattr(actual, "logical") and hasattr(actual, "final_layout"):
        expected = actual.logical if expected is None else expected
        initial_layout = actual.initial_layout if initial_layout is None else initial_layout
        final_layout = actual.final_layout if final_layout is None else final_layout
        actual = actual.circuit
    if expected is None:
        raise TypeError("assert_equivalent needs an expected circuit unless actual is a compiled circuit")
    want = _Operand(expected, keep=None)
    n = want.width
    init = list(range(n)) if initial_layout is None else [int(p) for p in initial_layout]
    final = init if final_layout is None else [int(p) for p in final_layout]
    physical = f"initial layout {init}, final layout {final}"
    got = _Operand(actual, keep=init + final if isinstance(actual, Circuit) else None)
    if got.remap is not None:  # physical numbering -> compacted axes
        init, final = [got.remap[p] for p in init], [got.remap[p] for p in final]
    _check_layout("initial layout", init, n, got.width)
    _check_layout("final layout", final, n, got.width)

    if exact is None:
        exact = (1 << n) * (1 << got.width) <= EXACT_MAX_AMPLITUDES
    rng = np.random.default_rng(seed)
    symbols = sorted(got.symbols | want.symbols)
    if bindings is None:
        runs = 1 if exact and not symbols else trials
        points = [{s: float(rng.uniform(-np.pi, np.pi)) for s in symbols} for _ in range(runs)]
    elif isinstance(bindings, Mapping):
        points = [dict(bindings)]
    else:
        points = [dict(b) for b in bindings]
    missing = [s for s in symbols if any(s not in p for p in points)]
    assert not missing, f"bindings leave symbols unbound: {missing[:5]}"

    worst, report = 0.0, ""
    for i, values in enumerate(points):
        if exact:
            inputs = np.eye(1 << n, dtype=np.complex128)
        else:
            psi = rng.normal(size=1 << n) + 1j * rng.normal(size=1 << n)
            inputs = (psi / np.linalg.norm(psi))[:, None]
        reference = _read(want.evolve(_embed(inputs, n, range(n), n), values), n, range(n))
        output = _read(got.evolve(_embed(inputs, n, init, got.width), values), n, final)
        overlap = np.vdot(reference, output)
        phase = overlap / abs(overlap) if up_to_phase and abs(overlap) > 1e-12 else 1.0
        distances = np.linalg.norm(output - phase * reference, axis=0)
        k = int(np.argmax(distances))
        if distances[k] > worst or i == 0:
            worst = max(worst, float(distances[k]))
            where = f"basis input |{k:0{n}b}>" if exact else "a random input state"
            kept = float(np.min(np.linalg.norm(output, axis=0)))
            report = (
                f"on {where}, binding {i + 1} of {len(points)}{' ' + _short(values) if values else ''}; "
                f"norm left in the subspace read {kept:.6f}; {physical}; "
                f"{'exact' if exact else 'state'} check of {n} logical on {got.width} physical qubits"
            )
    phase_note = "" if up_to_phase else " (phase included)"
    assert worst <= atol, f"not equivalent{phase_note}: deviation {worst:.3g} > atol {atol:g} {report}"
    return worst


def _short(values: Mapping[str, float]) -> str:
    items = [f"{k}={v:.3f}" for k, v in list(values.items())[:4]]
    return "{" + ", ".join(items) + (", ..." if len(values) > 4 else "") + "}"
