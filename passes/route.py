"""Route a placed circuit onto the coupling graph by inserting SWAPs.

Gates are taken in order; a two-qubit gate whose qubits are not coupled moves its first qubit
along the error-weighted shortest path until it neighbours the second, one SWAP per hop, and the
layout follows every SWAP. Correctness: each SWAP exchanges the states of two physical qubits
and the layout records it, so every gate acts on the physical qubits that hold its logical
qubits at that moment; the final layout tells where each logical qubit ends. Segments are kept:
SWAPs land in the segment of the gate that needed them. (Issue-4 work replaces this greedy
router with a SABRE-class one.)
"""

from __future__ import annotations

import networkx as nx

from hqvit.ir.circuit import Circuit, Gate, Measure, Segment
from hqvit.passes.base import PassContext
from hqvit.targets import Target


def apply_swap(u: int, v: int, l2p: list[int], p2l: dict[int, int], out: list) -> None:
    """Emit SWAP(u, v) and update both directions of the layout."""
    out.append(Gate("swap", (u, v)))
    lu, lv = p2l.pop(u, None), p2l.pop(v, None)
    if lu is not None:
        l2p[lu], p2l[v] = v, lu
    if lv is not None:
        l2p[lv], p2l[u] = u, lv


def route(circuit: Circuit, target: Target, initial_layout: list[int]) -> tuple[Circuit, list[int]]:
    l2p = list(initial_layout)
    p2l = {p: q for q, p in enumerate(l2p)}
    g = target.graph.subgraph(target.usable_qubits)
    paths: dict[tuple[int, int], list[int]] = {}

    def path(a: int, b: int) -> list[int]:
        if (a, b) not in paths:
            paths[(a, b)] = nx.dijkstra_path(g, a, b, weight="weight")
        return paths[(a, b)]

    segments = []
    for seg in circuit.segments:
        out = []
        for op in seg.ops:
            if isinstance(op, Measure):
                out.append(Measure(tuple(l2p[q] for q in op.qubits)))
                continue
            if not isinstance(op, Gate):
                raise ValueError("route expects a lowered circuit")
            if len(op.qubits) > 2:
                raise ValueError(f"route expects at most two-qubit gates, got {op.name}")
            if len(op.qubits) == 2:
                a, b = (l2p[q] for q in op.qubits)
                if not target.coupled(a, b):
                    hops = path(a, b)
                    for u, v in zip(hops[:-2], hops[1:-1], strict=True):
                        apply_swap(u, v, l2p, p2l, out)
            out.append(op.on(tuple(l2p[q] for q in op.qubits)))
        segments.append(Segment(seg.name, out))
    routed = Circuit(target.num_qubits, segments, dict(circuit.symbols), {})
    return routed, l2p


def run(circuit: Circuit, ctx: PassContext) -> Circuit:
    routed, final = route(circuit, ctx.target, ctx.properties["layout"])
    ctx.properties["final_layout"] = final
    ctx.properties["swaps"] = sum(g.name == "swap" for g in routed.gates())
    return routed
