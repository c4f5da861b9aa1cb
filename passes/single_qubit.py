"""Merge runs of numeric single-qubit gates and rewrite them in the target's 1-qubit gate set.

A run of numeric single-qubit gates on one qubit (between two-qubit gates, symbolic gates or
segment boundaries) is multiplied into one 2x2 unitary and re-emitted: nothing for the
identity, one rz for a diagonal, one u3 on targets whose every rotation is one pulse ("any"),
or rz·sx·rz·sx·rz (fewer when theta is 0, pi/2 or pi) on IBM's (rz, sx, x). Symbolic rotations
are never merged or resolved: on "any" targets they stay, on IBM rx/ry/u3 are rewritten by fixed
identities checked in tests/passes/test_native.py. Equality holds up to a global phase.
"""

from __future__ import annotations

import functools
import math

import cirq
import numpy as np

from hqvit.ir.angles import Angle
from hqvit.ir.circuit import Circuit, Gate, Segment
from hqvit.ir.gates import matrix
from hqvit.ir.metrics import FIGURES
from hqvit.passes.base import PassContext

_TOL = 1e-10
PI = math.pi


def _near(x: float, y: float) -> bool:
    return abs(math.remainder(x - y, 2 * PI)) < 1e-9


def _rz(theta: float | Angle, q: int) -> list[Gate]:
    a = Angle.of(theta)
    if a.is_numeric and _near(a.const, 0.0):
        return []
    return [Gate("rz", (q,), (a,))]


def numeric_to_native(u: np.ndarray, q: int, native: str) -> list[Gate]:
    # an off-diagonal entry above atol already rules out identity (its entry there is 0), and
    # cirq's check is the slow part of this pass: only near-diagonal runs ask it
    if abs(u[0, 1]) <= _TOL and abs(u[1, 0]) <= _TOL and cirq.allclose_up_to_global_phase(u, np.eye(2), atol=_TOL):
        return []
    if abs(u[0, 1]) < _TOL and abs(u[1, 0]) < _TOL:  # diagonal: one rz
        return _rz(float(np.angle(u[1, 1]) - np.angle(u[0, 0])), q)
    before, theta, after = cirq.deconstruct_single_qubit_matrix_into_angles(u)  # u = RZ(after) RY(theta) RZ(before)
    if native == "any":
        return [Gate("u3", (q,), (Angle(theta), Angle(after), Angle(before)))]
    # IBM: u3(t, p, l) = rz(p + pi) sx rz(t + pi) sx rz(l), with one-pulse special cases
    if _near(theta, PI / 2):
        return _rz(before - PI / 2, q) + [Gate("sx", (q,))] + _rz(after + PI / 2, q)
    if _near(theta, PI) or _near(theta, -PI):
        return _rz(before, q) + [Gate("x", (q,))] + _rz(after - PI, q)
    return _rz(before, q) + [Gate("sx", (q,))] + _rz(theta + PI, q) + [Gate("sx", (q,))] + _rz(after + PI, q)


def symbolic_to_native(g: Gate, native: str) -> list[Gate]:
    if native == "any" or g.name == "rz":
        return [g]
    (q,) = g.qubits
    if g.name == "rx":  # RX(t) = rz(-pi/2) sx rz(-t - pi) sx rz(-pi/2)   (time order)
        return _rz(-PI / 2, q) + [Gate("sx", (q,))] + _rz(-g.angles[0] - PI, q) + [Gate("sx", (q,))] + _rz(-PI / 2, q)
    if g.name == "ry":  # RY(t) = sx rz(t - pi) sx rz(-pi)
        return [Gate("sx", (q,))] + _rz(g.angles[0] - PI, q) + [Gate("sx", (q,)), Gate("rz", (q,), (Angle(-PI),))]
    if g.name == "u3":  # RZ(phi) RY(theta) RZ(lam)
        theta, phi, lam = g.angles
        return _rz(lam, q) + symbolic_to_native(Gate("ry", (q,), (theta,)), native) + _rz(phi, q)
    raise ValueError(f"no native form for symbolic gate {g.name}")


def _is_numeric_1q(op) -> bool:
    return isinstance(op, Gate) and len(op.qubits) == 1 and all(a.is_numeric for a in op.angles)


def _flush(run: list[Gate], q: int, native: str) -> list[Gate]:
    if not run:
        return []
    if len(run) == 1 and native == "any" and run[0].name in ("rx", "ry", "rz", "u3"):
        return list(run)  # already one native pulse
    try:  # the resynthesis loop has cached every run gate's item
        key = tuple([g._run_item for g in run])
    except AttributeError:
        key = tuple([_run_item(g) for g in run])
    return list(_native_gates(key, native, q))


_UNSET = object()


def _run_item(g: Gate) -> tuple | None:
    """A one-qubit gate's part of a run's key, (name, angle constants), or None if an angle is
    symbolic (``_is_numeric_1q`` is then false); cached on the gate as ``_run_item``. Gates are
    immutable and the item depends only on their fields, so the cache stays right; resynthesized
    and placed gates are shared between circuits (``_native_gates``, ``native.placed_template``),
    so most are read, not built. Equality, hashing and repr use the dataclass fields only."""
    item = getattr(g, "_run_item", _UNSET)
    if item is _UNSET:
        angles = g.angles
        if any(a.terms for a in angles):
            item = None
        else:
            item = (g.name, tuple([a.const for a in angles]) if angles else ())
        object.__setattr__(g, "_run_item", item)
    return item


@functools.lru_cache(maxsize=1 << 16)
def _native_gates(key: tuple, native: str, q: int) -> tuple[Gate, ...]:
    """``_native_run`` as gates on qubit ``q`` (gates are immutable: circuits may share them)."""
    return tuple(Gate(name, (q,), angles) for name, angles in _native_run(key, native))


@functools.lru_cache(maxsize=1 << 16)
def _symbolic_native(g: Gate, native: str) -> tuple[Gate, ...]:
    """``symbolic_to_native`` of a gate: every candidate compile rewrites the same symbolic
    rotations, on the same few qubits. Only for gates without a negative zero (``_no_negative_zero``),
    where equal gates are the same bits."""
    return tuple(symbolic_to_native(g, native))


def _no_negative_zero(angles: tuple[Angle, ...]) -> bool:
    """No constant or coefficient is -0.0: then angles that compare equal are identical (0.0 ==
    -0.0 is the one case where equal floats differ), and a result kept for one serves the other."""
    for a in angles:
        if a.const == 0.0 and math.copysign(1.0, a.const) < 0:
            return False
        for _, c in a.terms:
            if c == 0.0 and math.copysign(1.0, c) < 0:
                return False
    return True


@functools.lru_cache(maxsize=1 << 16)
def _native_run(key: tuple, native: str) -> tuple[tuple[str, tuple[Angle, ...]], ...]:
    """The native form of a numeric run, by its gates' names and angles: the same few runs
    (lowered templates between the same entanglers) recur thousands of times per compile."""
    u = np.eye(2)
    for name, angles in key:
        u = matrix(Gate(name, (0,), tuple(Angle(a) for a in angles))) @ u
    return tuple((g.name, g.angles) for g in numeric_to_native(u, 0, native))


def resynthesize_single_qubit(circuit: Circuit, native: str) -> Circuit:
    """Merge numeric 1-qubit runs and express every 1-qubit gate in ``native`` ('any' or 'ibm')."""
    return resynthesize_with_figures(circuit, native)[0]


def resynthesize_with_figures(circuit: Circuit, native: str) -> tuple[Circuit, tuple[int, int]]:
    """``resynthesize_single_qubit`` and ``metrics.two_qubit_gates_and_depth`` of its result.

    The figures follow the output as it is emitted, in its order: a chunk of ``m`` one-qubit
    gates on ``q`` (a flushed run, a rewritten symbolic gate) raises ``q``'s level by ``m``, any
    other gate takes one past the highest level of its qubits, non-gate ops are skipped; levels
    only grow, so the depth is the highest level at the end."""
    level = [0] * circuit.num_qubits
    two = 0
    segments = []
    for seg in circuit.segments:
        out: list = []
        pending: dict[int, list[Gate]] = {}
        for op in seg.ops:
            qubits = op.qubits
            one = len(qubits) == 1 and isinstance(op, Gate)
            if one and getattr(op, "_run_item", None) is not None or one and _run_item(op) is not None:
                # ``_is_numeric_1q``: the cached item, else ``_run_item`` (which caches it)
                run = pending.get(qubits[0])
                if run is None:
                    pending[qubits[0]] = [op]
                else:
                    run.append(op)
                continue
            for q in qubits:
                if q in pending:
                    chunk = _flush(pending.pop(q), q, native)
                    out.extend(chunk)
                    level[q] += len(chunk)
            if one:
                chunk = _symbolic_native(op, native) if _no_negative_zero(op.angles) else symbolic_to_native(op, native)
                out.extend(chunk)
                level[qubits[0]] += len(chunk)
                continue
            out.append(op)
            if isinstance(op, Gate):
                two += len(qubits) == 2
                d = 1 + max([level[q] for q in qubits])
                for q in qubits:
                    level[q] = d
        for q in sorted(pending):
            chunk = _flush(pending[q], q, native)
            out.extend(chunk)
            level[q] += len(chunk)
        segments.append(Segment(seg.name, out))
    return circuit.with_segments(segments), (two, max(level, default=0))


def run(circuit: Circuit, ctx: PassContext) -> Circuit:
    """The resynthesized circuit; its figures go to the pass manager."""
    out, figures = resynthesize_with_figures(circuit, ctx.target.one_qubit_native)
    ctx.properties[FIGURES] = (out, figures)
    return out
