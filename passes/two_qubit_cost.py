"""The exact two-qubit cost of a physical circuit or routing, without building the cancelled circuit.

``exact_cost`` (SWAPs expanded, commutation-aware cancellation run, surviving two-qubit gates
weighted by their coupler's error cost) decides between routings and between whole compiles, and
it ran hundreds of times per ``--opt 3`` compile through the Python passes. Here it runs the same
rules on integer rows in compiled code (``two_qubit_cost_kernel``), and a routing is replayed
from its events without creating a ``Circuit``.

Angles enter only through "does this merged rotation vanish": the constant is kept exactly and the
symbolic part is evaluated at two fixed random points per symbol, which is zero exactly when the
coefficients cancel (a non-zero linear form vanishing at both random points has probability
zero). The result is a score, never a circuit, so this can only change which candidate is kept,
not what any candidate computes.
"""

from __future__ import annotations

import functools
import hashlib
from itertools import chain

import numpy as np

from hqvit.ir.angles import Angle
from hqvit.ir.circuit import Circuit, Gate
from hqvit.ir.gates import GATES
from hqvit.passes import two_qubit_cost_kernel as k
from hqvit.passes.cancel import INVERSES, SYMMETRIC, X_TYPE, Z_TYPE

NAMES = tuple(GATES)
ID = {name: i for i, name in enumerate(NAMES)}


def _props() -> np.ndarray:
    p = np.zeros((len(NAMES), 11), np.int64)
    for i, name in enumerate(NAMES):
        s = GATES[name]
        p[i, k.P_NQ] = s.num_qubits
        p[i, k.P_DIAG] = s.diagonal
        p[i, k.P_SELFINV] = s.self_inverse and not s.num_angles
        p[i, k.P_ROT] = s.rotation_axis is not None
        p[i, k.P_ZT] = name in Z_TYPE
        p[i, k.P_XT] = name in X_TYPE
        p[i, k.P_SYM] = name in SYMMETRIC
        p[i, k.P_INV] = next((ID[b] for a, b in INVERSES if a == name), -1)
        p[i, k.P_CX] = name == "cx"
        p[i, k.P_CZ] = name == "cz"
        p[i, k.P_SWAP] = name == "swap"
    return p


PROPS = _props()


@functools.lru_cache(maxsize=65536)
def _point(symbol: str) -> tuple[float, float]:
    """Two fixed pseudo-random values in [1, 2) for a symbol (stable across runs)."""
    h = hashlib.blake2b(symbol.encode(), digest_size=16).digest()
    a, b = int.from_bytes(h[:8], "little"), int.from_bytes(h[8:], "little")
    return 1.0 + a / 2.0**64, 1.0 + b / 2.0**64


def angle_row(angle: Angle) -> tuple[float, float, float]:
    # the constant is read from this angle, not a cached equal one: -0.0 == 0.0 as a cache key,
    # and a cached row would hand one zero's sign to the other
    return (angle.const, *_terms_row(angle.terms))


@functools.lru_cache(maxsize=65536)
def _terms_row(terms: tuple) -> tuple[float, float]:
    s1 = s2 = 0.0
    for name, c in terms:
        x, y = _point(name)
        s1 += c * x
        s2 += c * y
    return s1, s2


def _gate_row(op) -> tuple[int, tuple[int, ...], tuple[float, float, float]] | None:
    """(table id, qubits, angle row), or None if the kernel cannot take it. Other ops stop
    look-backs on their qubits; like ``cancel``, one without ``qubits`` stops none."""
    if not isinstance(op, Gate):
        return k.OPAQUE, tuple(getattr(op, "qubits", ())), (0.0, 0.0, 0.0)
    if op.name not in ID or len(op.qubits) > 3:
        return None
    spec = GATES[op.name]
    row = angle_row(op.angles[0]) if spec.rotation_axis is not None else (0.0, 0.0, 0.0)
    return ID[op.name], tuple(op.qubits), row


# per gate name: (table id, is a rotation); names outside the table are absent
_INFO = {name: (ID[name], GATES[name].rotation_axis is not None) for name in NAMES}
_PAD = ((), (-1, -1), (-1,), ())  # by qubit count: the -1s that fill a row to three qubits
_NO_ANGLE = (0.0, 0.0, 0.0)
_ROW = "_cost_row"  # the gate attribute that caches its row
_WIDTH = 7  # a row: table id, three qubits, angle row


def gate_row(op: Gate) -> tuple:
    """``_gate_row(op)`` flattened to (table id, q0, q1, q2, const, s1, s2), or () if the kernel
    cannot take it; cached on the gate. A gate is immutable and its row depends only on its
    fields, so the cache is its row for as long as it lives; placed templates and resynthesized
    runs are shared gates (``native.placed_template``, ``single_qubit._native_gates``), so most
    rows of a compile are read, not built. Equality, hashing and repr ignore the attribute
    (they use the dataclass fields)."""
    row = getattr(op, _ROW, None)
    if row is None:
        entry = _INFO.get(op.name)
        qubits = op.qubits
        if entry is None or len(qubits) > 3:
            row = ()
        else:
            row = (entry[0], *qubits, *_PAD[len(qubits)], *(angle_row(op.angles[0]) if entry[1] else _NO_ANGLE))
        object.__setattr__(op, _ROW, row)
    return row


def circuit_rows(circuit: Circuit, gates: list | None = None):
    """Kernel rows of a circuit (one per gate, one per qubit of any other op), or None if some
    gate is one the kernel cannot take; ``gates`` (if given) receives each gate, in row order.
    The rows are ``_gate_row``'s (via ``gate_row``); a segment of gates whose rows are all cached
    is read in one comprehension, and numpy splits the rows into columns: this runs on every
    gate of every cancellation pass."""
    rows: list[tuple] = []
    ptr = [0]
    for seg in circuit.segments:
        try:  # only gates (other ops never carry a row), all seen before
            rows += [op._cost_row for op in seg.ops]
            if gates is not None:
                gates += seg.ops
        except AttributeError:
            _segment_rows(seg.ops, rows, gates)
        ptr.append(len(rows))
    if rows and not min(map(len, rows)):
        return None  # a gate the kernel cannot take
    # table ids and qubits are small integers: exact as float64 and back
    table = np.fromiter(chain.from_iterable(rows), np.float64, _WIDTH * len(rows)).reshape(-1, _WIDTH)
    return (
        table[:, 0].astype(np.int64),
        np.ascontiguousarray(table[:, 1:4], np.int64),
        np.ascontiguousarray(table[:, 4:7]),
        np.array(ptr, np.int64),
    )


def _segment_rows(ops: list, rows: list[tuple], gates: list | None) -> None:
    """One segment's rows, op by op (a failed comprehension added none: ``+=`` extends only
    once it has finished)."""
    opaque = k.OPAQUE
    for op in ops:
        if not isinstance(op, Gate):
            rows += [(opaque, x, -1, -1, 0.0, 0.0, 0.0) for x in getattr(op, "qubits", ())]
            continue
        rows.append(gate_row(op))
        if gates is not None:
            gates.append(op)


def raw_cost_of_rows(rows, num_qubits: int, cost_matrix: np.ndarray) -> tuple[float, int]:
    """Error-weighted and plain count of the two-qubit gates left, unrounded."""
    name, q, angle, ptr = rows
    weighted, count = k.cancel_count(name, q, angle, ptr, PROPS, num_qubits, cost_matrix, ID["cx"])
    return float(weighted), int(count)


def cost_of_rows(rows, num_qubits: int, cost_matrix: np.ndarray) -> tuple[float, int]:
    weighted, count = raw_cost_of_rows(rows, num_qubits, cost_matrix)
    return round(weighted, 9), count


def flat_rows(flat) -> tuple[np.ndarray, np.ndarray] | None:
    """Per-op table ids and angle rows of a ``sabre.FlatCircuit`` (its qubits are ``op_q``)."""
    names, angles = [], []
    for op in flat.ops:
        row = _gate_row(op)
        if row is None:
            return None
        names.append(row[0])
        angles.append(row[2])
    return np.asarray(names, np.int64), np.asarray(angles, np.float64).reshape(-1, 3)


def routing_rows(flat, rows, events: np.ndarray, layout: list[int], num_qubits: int):
    op_name, op_angle = rows
    return k.replay_routing(
        flat.op_ptr,
        flat.op_q,
        op_name,
        op_angle,
        flat.seg_ptr,
        np.asarray(events, np.int64),
        np.asarray(layout, np.int64),
        num_qubits,
        ID["swap"],
    )
