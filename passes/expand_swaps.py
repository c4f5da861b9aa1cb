"""Pass: every SWAP becomes three CNOTs, oriented so that cancellation can remove one.

Correct because SWAP(a, b) = CX(a,b) CX(b,a) CX(a,b) = CX(b,a) CX(a,b) CX(b,a); which orientation
is chosen only decides which neighbouring CNOT the next cancellation pass can merge.
"""

from __future__ import annotations

import functools

from hqvit.ir.circuit import Circuit, Gate, Segment
from hqvit.passes.base import PassContext


def expand_swaps(circuit: Circuit) -> Circuit:
    """SWAP -> three CNOTs, oriented so the outer CNOTs match a neighbouring CNOT on the same pair
    (which cancellation then removes: CX(a,b) SWAP(a,b) = CX(b,a) CX(a,b)). The ops between
    SWAPs are copied in slices."""
    segments = []
    for seg in circuit.segments:
        ops = seg.ops
        out: list = []
        done = 0
        for i in [i for i, op in enumerate(ops) if isinstance(op, Gate) and op.name == "swap"]:
            out += ops[done:i]
            c, t = _orientation(ops, i)
            out += (_cx(c, t), _cx(t, c), _cx(c, t))
            done = i + 1
        out += ops[done:]
        segments.append(Segment(seg.name, out))
    return circuit.with_segments(segments)


def _orientation(ops: list, i: int) -> tuple[int, int]:
    """The qubits of the first CNOT on the SWAP's pair among the next 7 ops, else the previous
    7 (nearest first), else the SWAP's own order."""
    a, b = ops[i].qubits
    for j in (*range(i + 1, min(len(ops), i + 8)), *range(i - 1, max(-1, i - 8), -1)):
        n = ops[j]
        if isinstance(n, Gate) and n.name == "cx" and set(n.qubits) == {a, b}:
            return n.qubits
    return a, b


@functools.lru_cache(maxsize=1 << 14)
def _shared_cx(c: int, t: int) -> Gate:
    return Gate("cx", (c, t))


def _cx(c: int, t: int) -> Gate:
    """``Gate("cx", (c, t))``, shared between circuits when the qubits are Python ints (gates are
    immutable; a numpy integer equals its int but prints differently, so it gets its own)."""
    if type(c) is int and type(t) is int:
        return _shared_cx(c, t)
    return Gate("cx", (c, t))


def run(circuit: Circuit, ctx: PassContext) -> Circuit:
    return expand_swaps(circuit)
