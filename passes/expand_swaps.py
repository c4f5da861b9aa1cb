"""Pass: every SWAP becomes three CNOTs, oriented so that cancellation can remove one.

Correct because SWAP(a, b) = CX(a,b) CX(b,a) CX(a,b) = CX(b,a) CX(a,b) CX(b,a); which orientation
is chosen only decides which neighbouring CNOT the next cancellation pass can merge.
"""

from __future__ import annotations

from hqvit.ir.circuit import Circuit, Gate, Segment
from hqvit.passes.base import PassContext


def expand_swaps(circuit: Circuit) -> Circuit:
    """SWAP -> three CNOTs, oriented so the outer CNOTs match a neighbouring CNOT on the same pair
    (which cancellation then removes: CX(a,b) SWAP(a,b) = CX(b,a) CX(a,b))."""
    segments = []
    for seg in circuit.segments:
        ops = list(seg.ops)
        out = []
        for i, op in enumerate(ops):
            if not (isinstance(op, Gate) and op.name == "swap"):
                out.append(op)
                continue
            a, b = op.qubits
            orient = (a, b)
            for j in list(range(i + 1, min(len(ops), i + 8))) + list(range(i - 1, max(-1, i - 8), -1)):
                n = ops[j]
                if isinstance(n, Gate) and n.name == "cx" and set(n.qubits) == {a, b}:
                    orient = n.qubits
                    break
            c, t = orient
            out += [Gate("cx", (c, t)), Gate("cx", (t, c)), Gate("cx", (c, t))]
        segments.append(Segment(seg.name, out))
    return circuit.with_segments(segments)


def run(circuit: Circuit, ctx: PassContext) -> Circuit:
    return expand_swaps(circuit)
