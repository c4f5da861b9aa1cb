"""Commutation-aware gate cancellation and rotation merging, on affine symbolic angles.

Each gate is compared with the earlier gates on its qubits, looking back past gates it commutes
with: inverse pairs cancel (self-inverse gates, s/sdg, t/tdg, sx/sxdg), rotations about the same
axis on the same qubit merge into one whose angle is the affine sum, and a rotation whose angle
is a numeric multiple of 2pi disappears (a global phase). Commutation rules used, all exact:
disjoint qubits; diagonal gates with diagonal gates; Z-type gates with a CNOT's control (and a
CZ); X-type gates with a CNOT's target; CNOTs sharing only their control or only their target.
Symbols are never resolved: a symbolic angle is only removed when it cancels identically.
"""

from __future__ import annotations

import math

from hqvit.ir.circuit import Circuit, Gate, Segment
from hqvit.ir.gates import GATES
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


def cancel_and_merge(circuit: Circuit) -> Circuit:
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
    return cancel_and_merge(circuit)
