"""Initial layout: VF2 subgraph match when the interaction graph embeds, else SABRE's
forward-backward refinement from several starts; every iterate is routed and returned, so the
pipeline keeps the best one, not the last.

VF2 (rustworkx): if the logical interaction graph is a subgraph of the usable coupling graph,
every two-qubit gate can run without SWAPs; among up to ``vf2_limit`` matches the one with the
lowest total error (couplers weighted by use, plus readout and 1q error) wins, as in Qiskit's
VF2Layout/VF2PostLayout and Murali et al. 2019. Otherwise each start (the noise-aware greedy
placement and seeded random placements inside a connected region) is refined by routing the
circuit forward, then the reversed circuit from where it ended, a few times.
"""

from __future__ import annotations

import numpy as np
import rustworkx as rx

from compiler.ir import Circuit, Gate, Segment
from targets import Target

from .layout import interaction_weights, noise_aware_layout
from .sabre import CouplingData, FlatCircuit, RoutingResult, sabre_route_once


def _skeleton(circuit: Circuit) -> Circuit:
    """Two-qubit structure only, one segment per original segment (routing cost is all that matters)."""
    segs = [Segment(s.name, [g for g in s.ops if isinstance(g, Gate) and len(g.qubits) == 2]) for s in circuit.segments]
    return circuit.with_segments(segs)


def _reversed(circuit: Circuit) -> Circuit:
    return circuit.with_segments([Segment(s.name, list(reversed(s.ops))) for s in reversed(circuit.segments)])


def vf2_layout(circuit: Circuit, target: Target, limit: int = 2000) -> list[int] | None:
    weights = interaction_weights(circuit)
    n = circuit.num_qubits
    usable = target.usable_qubits
    if n > len(usable):
        return None
    logical = rx.PyGraph()
    logical.add_nodes_from(range(n))
    logical.add_edges_from([(a, b, w) for (a, b), w in weights.items()])
    device = rx.PyGraph()
    device.add_nodes_from(usable)
    index = {q: i for i, q in enumerate(usable)}
    device.add_edges_from([(index[a], index[b], None) for a, b in target.edges if a in index and b in index])
    best, best_cost = None, np.inf
    cost_q = target.readout_error + target.one_qubit_error
    mappings = rx.vf2_mapping(device, logical, subgraph=True, induced=False, id_order=False, call_limit=200_000)
    for k, mapping in enumerate(mappings):
        if k >= limit:
            break
        layout = [0] * n
        for dev, log in mapping.items():
            layout[log] = usable[dev]
        cost = sum(
            w * -np.log(max(1 - target.two_qubit_error(layout[a], layout[b]), 1e-12)) for (a, b), w in weights.items()
        )
        cost += sum(cost_q[p] for p in layout)
        if cost < best_cost:
            best, best_cost = layout, cost
    return best


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
