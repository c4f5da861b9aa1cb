"""Pass: a SWAP-free layout by VF2 subgraph matching, when the interaction graph embeds.

If the logical interaction graph is a subgraph of the usable coupling graph, every two-qubit gate
can run without SWAPs; among up to ``limit`` matches (rustworkx's VF2) the one with the lowest
total error (couplers weighted by use, plus readout and single-qubit error) wins, as in Qiskit's
VF2Layout/VF2PostLayout and Murali et al. 2019. Correct because a match maps every interacting
pair onto a coupler; when there is none the layout stays unset for the next layout pass.
"""

from __future__ import annotations

import numpy as np
import rustworkx as rx

from hqvit.ir.circuit import Circuit
from hqvit.passes.base import PassContext
from hqvit.passes.layout import interaction_weights
from hqvit.targets import Target


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
    cost_q = target.qubit_cost
    mappings = rx.vf2_mapping(device, logical, subgraph=True, induced=False, id_order=False, call_limit=200_000)
    for k, mapping in enumerate(mappings):
        if k >= limit:
            break
        layout = [0] * n
        for dev, log in mapping.items():
            layout[log] = usable[dev]
        cost = sum(w * target.coupler_cost(layout[a], layout[b]) for (a, b), w in weights.items())
        cost += sum(cost_q[p] for p in layout)
        if cost < best_cost:
            best, best_cost = layout, cost
    return best


def run(circuit: Circuit, ctx: PassContext) -> Circuit:
    if ctx.properties.get("layout") is None:
        ctx.properties["layout"] = vf2_layout(circuit, ctx.target)
    return circuit
