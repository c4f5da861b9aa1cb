"""Commutation-aware gate cancellation and rotation merging, on affine symbolic angles.

Each gate is compared with the earlier gates on its qubits, looking back past gates it commutes
with: inverse pairs cancel (self-inverse gates, s/sdg, t/tdg, sx/sxdg), rotations about the same
axis on the same qubit merge into one whose angle is the affine sum, and a rotation whose angle
is a numeric multiple of 2pi disappears (a global phase). Commutation rules used, all exact:
disjoint qubits; diagonal gates with diagonal gates; Z-type gates with a CNOT's control (and a
CZ); X-type gates with a CNOT's target; CNOTs sharing only their control or only their target.
Symbols are never resolved: a symbolic angle is only removed when it cancels identically.

``cancel_and_merge`` runs these rules in compiled code (``two_qubit_cost_kernel.cancel``) and then
replays its decisions on the exact affine angles here, checking each rotation that it dropped or
summed to zero (and each it kept) against ``Angle``'s own test; if one disagrees, the result is
taken from ``cancel_and_merge_reference``, the rules in plain Python. Either way the output is
the reference's, gate for gate.
"""

from __future__ import annotations

import math
from itertools import compress

import numpy as np

from hqvit.ir.angles import Angle
from hqvit.ir.circuit import Circuit, Gate, Segment
from hqvit.ir.gates import GATES
from hqvit.ir.metrics import FIGURES
from hqvit.passes.base import PassContext

LOOKBACK = 64
INVERSES = {("s", "sdg"), ("sdg", "s"), ("t", "tdg"), ("tdg", "t"), ("sx", "sxdg"), ("sxdg", "sx")}
Z_TYPE = {"z", "s", "sdg", "t", "tdg", "rz"}
X_TYPE = {"x", "sx", "sxdg", "rx"}
SYMMETRIC = {"cz", "swap", "zz", "ms", "sqrt_iswap"}


def _same_support(a: Gate, b: Gate) -> bool:
    if a.qubits == b.qubits:
        return True
    return a.name == b.name and a.name in SYMMETRIC and set(a.qubits) == set(b.qubits)


def commutes(a: Gate, b: Gate) -> bool:
    shared = set(a.qubits) & set(b.qubits)
    if not shared:
        return True
    sa, sb = GATES[a.name], GATES[b.name]
    if sa.diagonal and sb.diagonal:
        return True
    for g, h in ((a, b), (b, a)):
        if g.name == "cx" and len(h.qubits) == 1:
            q = h.qubits[0]
            if q == g.qubits[0] and h.name in Z_TYPE:
                return True
            if q == g.qubits[1] and h.name in X_TYPE:
                return True
    if a.name == "cx" and b.name == "cx":
        return (a.qubits[0] == b.qubits[0] and a.qubits[1] != b.qubits[1]) or (
            a.qubits[1] == b.qubits[1] and a.qubits[0] != b.qubits[0]
        )
    if {a.name, b.name} == {"cx", "cz"}:
        cx, cz = (a, b) if a.name == "cx" else (b, a)
        return cx.qubits[1] not in cz.qubits
    return False


def _combine(prev: Gate, g: Gate) -> list[Gate] | None:
    """The replacement for prev·g if they simplify (empty list: they cancel), else None."""
    if not _same_support(prev, g):
        return None
    spec = GATES[g.name]
    if prev.name == g.name and spec.self_inverse and not spec.num_angles:
        return []
    if (prev.name, g.name) in INVERSES:
        return []
    if prev.name == g.name and spec.rotation_axis:
        angle = prev.angles[0] + g.angles[0]
        if angle.is_numeric and abs(math.remainder(angle.const, 2 * math.pi)) < 1e-12:
            return []
        return [Gate(g.name, g.qubits, (angle,))]
    return None


def _earlier_on(positions: dict[int, list[int]], qubits) -> list[int]:
    """Positions of the latest operations on ``qubits``, newest first (enough for LOOKBACK)."""
    if len(qubits) == 1:
        return positions.get(qubits[0], [])[-2 * LOOKBACK :][::-1]
    found = set()
    for q in qubits:
        found.update(positions.get(q, [])[-2 * LOOKBACK :])
    return sorted(found, reverse=True)


_TWO_PI = 2 * math.pi


def _zero_mod(const: float) -> bool:
    """A numeric angle with this constant is a multiple of 2pi (``Angle.is_zero_mod``)."""
    return abs(math.remainder(const, _TWO_PI)) < 1e-12


def _vanishes(angle) -> bool:
    return angle.is_numeric and _zero_mod(angle.const)


def _sum(a: Angle, b: Angle) -> Angle:
    """``a + b``; for two numeric angles built directly (what ``Angle.__add__`` returns for them:
    the constants' sum and no terms), since merged rotations are mostly numeric."""
    if a.terms or b.terms:
        return a + b
    return Angle(a.const + b.const)


def cancel_and_merge(circuit: Circuit) -> Circuit:
    """The reference's result, from the compiled rules (see the module docstring)."""
    return cancel_with_figures(circuit)[0]


def cancel_with_figures(circuit: Circuit) -> tuple[Circuit, tuple[int, int] | None]:
    """``cancel_and_merge(circuit)`` and, when the compiled rules produced it, its two-qubit
    count and depth (``two_qubit_cost_kernel.figures``, from the rows it kept)."""
    from hqvit.passes import two_qubit_cost as cost  # imports this module's rule tables
    from hqvit.passes import two_qubit_cost_kernel as kernel

    gates: list[Gate] = []
    rows = cost.circuit_rows(circuit, gates)
    if rows is None or circuit.num_qubits == 0:
        return cancel_and_merge_reference(circuit), None
    name, q, angle, ptr = rows
    alive, _, events = kernel.cancel(name, q, angle, ptr, cost.PROPS, circuit.num_qubits)
    is_gate = name != kernel.OPAQUE
    gate_rows = np.flatnonzero(is_gate)  # the row of each gate, in order
    if len(events):
        # rows -> gate indices (the decisions only name gate rows)
        index_of = np.cumsum(is_gate) - 1
        decided = np.where(events[:, 1:] >= 0, index_of[events[:, 1:]], -1)
        merged = _replay(events[:, 0].tolist(), decided[:, 0].tolist(), decided[:, 1].tolist(), gates, kernel)
        if merged is None:
            return cancel_and_merge_reference(circuit), None
        for p, (g, total, numeric) in merged.items():
            if alive[gate_rows[p]]:  # a vanished sum is dropped: no gate to build
                gates[p] = _numeric_gate(g.name, g.qubits, total) if numeric else Gate(g.name, g.qubits, (total,))
    keep = alive[gate_rows].tolist()
    before = np.concatenate(([0], np.cumsum(is_gate)))[ptr]  # gates before each segment
    out = circuit.with_segments(_rebuild(circuit, gates, keep, np.diff(before).tolist()))
    two, depth = kernel.figures(name, q, alive, cost.PROPS, circuit.num_qubits)
    return out, (int(two), int(depth))


# (name, qubits, constant, its type, its sign) -> the merged rotation with that numeric angle
_NUMERIC_GATES: dict[tuple, Gate] = {}
_NUMERIC_GATES_MAX = 1 << 16


def _numeric_gate(name: str, qubits: tuple[int, ...], const: float) -> Gate:
    """``Gate(name, qubits, (Angle(const),))``, shared between circuits (gates are immutable):
    the same merged rotations recur in every candidate compile. The key holds the constant's
    type and sign besides its value, since ``0.0 == -0.0`` and ``np.float64(x) == x`` but their
    angles print differently."""
    if not all(type(q) is int for q in qubits):  # numpy integers print differently: not shared
        return Gate(name, qubits, (Angle(const),))
    key = (name, qubits, const, type(const), math.copysign(1.0, const))
    gate = _NUMERIC_GATES.get(key)
    if gate is None:
        if len(_NUMERIC_GATES) >= _NUMERIC_GATES_MAX:
            _NUMERIC_GATES.clear()
        gate = _NUMERIC_GATES[key] = Gate(name, qubits, (Angle(const),))
    return gate


def _replay(kinds: list[int], earlier: list[int], later: list[int], gates: list[Gate], kernel) -> dict | None:
    """The kernel's decisions on the exact angles: earlier gate index -> (the last gate merged
    into it, the merged angle, whether it is numeric), or None if ``Angle``'s own test disagrees
    with one of them.

    A numeric running sum is kept as its constant: ``Angle.__add__`` of numeric angles is the
    constants' sum (same operands, same order, same type) with no terms, and ``_vanishes`` of
    it is ``_zero_mod`` of the constant, so only the final angle need be built; a sum that
    meets a symbolic angle is an ``Angle`` from then on."""
    merged: dict[int, tuple[Gate, Angle | float, bool]] = {}
    dropped, vanished = kernel.DROPPED, kernel.VANISHED
    for kind, p, j in zip(kinds, earlier, later, strict=True):
        if kind == dropped:
            if not gates[j].angles[0].is_zero_mod(_TWO_PI):
                return None
        elif kind == kernel.MERGED or kind == vanished:
            g = gates[j]
            a = g.angles[0]
            hit = merged.get(p)
            if hit is None:
                prev = gates[p].angles[0]
                hit = (None, prev.const, True) if not prev.terms else (None, prev, False)
            if hit[2] and not a.terms:
                total, numeric = hit[1] + a.const, True
                zero = _zero_mod(total)
            else:
                total, numeric = _sum(Angle(hit[1]) if hit[2] else hit[1], a), False
                zero = _vanishes(total)
            if zero != (kind == vanished):
                return None
            merged[p] = (g, total, numeric)
    return merged


def _rebuild(circuit: Circuit, gates: list[Gate], keep: list[bool], counts: list[int]) -> list[Segment]:
    """The segments with ``gates`` (one per gate of ``circuit``, in order) in place of its gates,
    each kept where ``keep`` says so; other ops stay. ``counts``: gates per segment."""
    segments = []
    start = 0
    for seg, count in zip(circuit.segments, counts, strict=True):
        end = start + count
        if count == len(seg.ops):  # only gates (nearly always): filter in C
            out = list(compress(gates[start:end], keep[start:end]))
        else:
            out, i = [], start
            for op in seg.ops:
                if isinstance(op, Gate):
                    if keep[i]:
                        out.append(gates[i])
                    i += 1
                else:
                    out.append(op)
        segments.append(Segment(seg.name, out))
        start = end
    return segments


def cancel_and_merge_reference(circuit: Circuit) -> Circuit:
    """The rules of the module docstring in plain Python: the definition the compiled path
    is checked against."""
    segments = []
    for seg in circuit.segments:
        out: list = []
        positions: dict[int, list[int]] = {}  # qubit -> indices in ``out`` of ops on it, in order
        for op in seg.ops:
            qubits = tuple(getattr(op, "qubits", ()))
            if not isinstance(op, Gate):
                for q in qubits:
                    positions.setdefault(q, []).append(len(out))
                out.append(op)
                continue
            if op.name in GATES and GATES[op.name].rotation_axis and op.angles[0].is_zero_mod(2 * math.pi):
                continue
            placed = False
            looked = 0
            # only earlier ops sharing a qubit matter: the rest commute trivially
            for k in _earlier_on(positions, qubits):
                prev = out[k]
                if prev is None:
                    continue
                if not isinstance(prev, Gate):
                    break
                looked += 1
                if looked > LOOKBACK:
                    break
                merged = _combine(prev, op)
                if merged is not None:
                    out[k] = merged[0] if merged else None
                    placed = True
                    break
                if not commutes(prev, op):
                    break
            if not placed:
                for q in qubits:
                    positions.setdefault(q, []).append(len(out))
                out.append(op)
        segments.append(Segment(seg.name, [op for op in out if op is not None]))
    return circuit.with_segments(segments)


def run(circuit: Circuit, ctx: PassContext) -> Circuit:
    """``cancel_and_merge``; the result's figures go to the pass manager when known."""
    out, figures = cancel_with_figures(circuit)
    if figures is not None:
        ctx.properties[FIGURES] = (out, figures)
    return out
