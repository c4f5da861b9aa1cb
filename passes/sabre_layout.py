"""Pass: SABRE's forward-backward layout search (Li et al. 2019), when no layout is set yet.

Each start (the noise-aware greedy placement and seeded random placements inside a connected
region) is refined by routing the two-qubit skeleton forward, then the reversed skeleton from
where it ended, a few times. Every iterate is routed on the full circuit and kept in
``ctx.properties["routings"]``, so the routing pass chooses among them and the best one wins,
not the last. Correct because a layout is only a starting permutation: any injective placement
on usable qubits is valid, and each routing returned is a complete, valid routing from it.
"""

from __future__ import annotations

import numpy as np

from hqvit.ir.circuit import Circuit, Gate, Segment
from hqvit.passes.base import PassContext
from hqvit.passes.layout import noise_aware_layout
from hqvit.passes.sabre import FlatCircuit, RoutingResult, estimated_cost, sabre_route_once
from hqvit.targets import Target
from hqvit.targets.coupling import CouplingData


def _skeleton(circuit: Circuit) -> Circuit:
    """Two-qubit structure only, one segment per original segment (routing cost is all that matters)."""
    segs = [Segment(s.name, [g for g in s.ops if isinstance(g, Gate) and len(g.qubits) == 2]) for s in circuit.segments]
    return circuit.with_segments(segs)


def _reversed(circuit: Circuit) -> Circuit:
    return circuit.with_segments([Segment(s.name, list(reversed(s.ops))) for s in reversed(circuit.segments)])


def _random_region_layout(n: int, target: Target, cd: CouplingData, rng: np.random.Generator) -> list[int]:
    usable = target.usable_qubits
    root = usable[int(rng.integers(len(usable)))]
    order = sorted(usable, key=lambda q: (cd.hops[root, q], rng.uniform()))
    region = order[:n]
    rng.shuffle(region)
    return [int(q) for q in region]


def sabre_layout(
    circuit: Circuit,
    target: Target,
    cd: CouplingData,
    starts: int = 3,
    iterations: int = 3,
    seed: int = 0,
) -> list[RoutingResult]:
    """Refine each start forward-backward on the two-qubit skeleton; every iterate (starts
    included) is then routed on the full circuit. Returns those routings, each a valid routing of
    the full circuit from its ``initial_layout``; the caller keeps the best, not the last."""
    skeleton = _skeleton(circuit)
    back = FlatCircuit(_reversed(skeleton))
    flat, skeleton = FlatCircuit(circuit), FlatCircuit(skeleton)
    n = circuit.num_qubits
    rng = np.random.default_rng(seed)
    candidates = [noise_aware_layout(circuit, target)]
    candidates += [_random_region_layout(n, target, cd, rng) for _ in range(max(0, starts - 1))]
    iterates = []
    for s, start in enumerate(candidates):
        layout = list(start)
        iterates.append(list(layout))
        for it in range(iterations):
            fwd = sabre_route_once(skeleton, cd, target.num_qubits, layout, seed * 7919 + s * 31 + it)
            bwd = sabre_route_once(back, cd, target.num_qubits, fwd.final_layout, seed * 7919 + s * 31 + it + 17)
            layout = bwd.final_layout
            iterates.append(list(layout))
    return [sabre_route_once(flat, cd, target.num_qubits, layout, seed * 7919 + k) for k, layout in enumerate(iterates)]


def run(circuit: Circuit, ctx: PassContext) -> Circuit:
    if ctx.properties.get("layout") is None:
        o = ctx.options
        routings = sabre_layout(circuit, ctx.target, ctx.coupling, o["starts"], o["iterations"], ctx.seed)
        ctx.properties["routings"] = routings
        ctx.properties["layout"] = min(routings, key=estimated_cost).initial_layout
    return circuit
