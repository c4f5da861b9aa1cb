"""Lower high-level operations (amplitude encoding, ansatz, swap test) to IR gates.

Correctness: each lowering is the textbook construction named in its helper, with the angle
convention fixed in ``hqvit.ir.encoding``; ``tests/passes/test_lowering.py`` checks every one against an
independent reference (the target state, the ansatz matrix, the swap-test probabilities).
Symbols pass through untouched, so the lowered circuit still binds per image / per head.
"""

from __future__ import annotations

import functools

from hqvit.ir.angles import Angle
from hqvit.ir.circuit import (
    HIGH_LEVEL,
    AmplitudeEncode,
    Ansatz,
    Circuit,
    Gate,
    Operation,
    Segment,
    SwapTest,
    op_qubits,
)
from hqvit.ir.encoding import gray_controls
from hqvit.passes.base import PassContext


def lower_amplitude_encode(op: AmplitudeEncode) -> list[Gate]:
    """Möttönen tree: level k is a k-controlled RY multiplexor in Gray-code form (2^k CNOTs). A
    step whose angle is identically zero (``op.zero_steps``) loses its rotation; its CNOTs stay
    (later passes cancel what then meets)."""
    out: list[Gate] = []
    for k, target in enumerate(op.qubits):
        controls = op.qubits[:k]
        steps = gray_controls(k) if k else [None]
        for i, ctrl in enumerate(steps):
            if op.kept(k, i):
                out.append(Gate("ry", (target,), (Angle.symbol(f"{op.prefix}{k}_{i}"),)))
            if ctrl is not None:
                out.append(Gate("cx", (controls[ctrl], target)))
    return out


def lower_ansatz(op: Ansatz) -> list[Gate]:
    out: list[Gate] = []
    for layer in range(op.layers):
        for m, q in enumerate(op.qubits):
            out.append(Gate("ry", (q,), (Angle.symbol(f"{op.prefix}{layer}_{m}"),)))
        for a, b in zip(op.qubits, op.qubits[1:], strict=False):
            out.append(Gate("cx", (a, b)))
    return out


def lower_swap_test(op: SwapTest) -> list[Gate]:
    if op.lowering == "cswap":
        anc = op.ancilla
        return [
            Gate("h", (anc,)),
            *(Gate("cswap", (anc, a, b)) for a, b in zip(op.a, op.b, strict=True)),
            Gate("h", (anc,)),
        ]
    if op.lowering == "bell":
        out = [Gate("cx", (a, b)) for a, b in zip(op.a, op.b, strict=True)]
        return out + [Gate("h", (a,)) for a in op.a]
    raise ValueError(f"unknown swap-test lowering {op.lowering!r}")


def lower_op(op: Operation) -> list[Operation]:
    if isinstance(op, AmplitudeEncode):
        return list(lower_amplitude_encode(op))
    if isinstance(op, Ansatz):
        return list(lower_ansatz(op))
    if isinstance(op, SwapTest):
        return list(lower_swap_test(op))
    return [op]


@functools.lru_cache(maxsize=1024)
def _lowered(op: AmplitudeEncode | Ansatz | SwapTest) -> tuple[Gate, ...]:
    """``lower_op(op)``, shared: every candidate compile lowers the same high-level operations,
    which are immutable and hashable by value (their fields are tuples and strings), as the
    gates are immutable."""
    return tuple(lower_op(op))


def _plain_qubits(op: AmplitudeEncode | Ansatz | SwapTest) -> bool:
    """Every qubit is a Python int: an op with numpy integers equals (and hashes like) one with
    ints, but its gates would print differently, so it is lowered afresh."""
    return all(type(q) is int for q in op_qubits(op))


def lower(circuit: Circuit) -> Circuit:
    """Replace every high-level operation by gates, segment by segment."""
    segments = []
    for seg in circuit.segments:
        ops: list[Operation] = []
        for op in seg.ops:
            if isinstance(op, HIGH_LEVEL):
                ops.extend(_lowered(op) if _plain_qubits(op) else lower_op(op))
            else:
                ops.append(op)
        segments.append(Segment(seg.name, ops))
    return circuit.with_segments(segments)


def run(circuit: Circuit, ctx: PassContext) -> Circuit:
    return lower(circuit)
