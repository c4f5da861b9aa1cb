"""Noise-aware greedy initial placement.

Logical qubits are placed in order of how much they interact with qubits already placed (the
most-connected first); each goes to the free usable physical qubit that minimizes the
interaction-weighted, error-weighted distance to its placed partners plus its own readout and
single-qubit error. Distances are the Target's shortest paths with edge weight -log(1 - coupler
error) (``Target.error_distances``), so a two-hop path over good couplers can beat one bad coupler.
Correctness does not depend on the choice: any injective placement is valid, routing makes it
executable. (Issue-4 work replaces this with VF2 subgraph matching plus SABRE refinement.)
"""

from __future__ import annotations

import numpy as np

from hqvit.ir.circuit import Circuit
from hqvit.passes.base import PassContext
from hqvit.targets import Target


def interaction_weights(circuit: Circuit) -> dict[tuple[int, int], int]:
    w: dict[tuple[int, int], int] = {}
    for g in circuit.gates():
        if len(g.qubits) >= 2:
            for i, a in enumerate(g.qubits):
                for b in g.qubits[i + 1 :]:
                    key = (min(a, b), max(a, b))
                    w[key] = w.get(key, 0) + 1
    return w


def noise_aware_layout(circuit: Circuit, target: Target) -> list[int]:
    n_log = circuit.num_qubits
    usable = target.usable_qubits
    if n_log > len(usable):
        raise ValueError(f"{n_log} logical qubits do not fit {len(usable)} usable qubits")
    dist = target.error_distances
    weights = interaction_weights(circuit)
    adj: dict[int, dict[int, int]] = {q: {} for q in range(n_log)}
    for (a, b), w in weights.items():
        adj[a][b] = adj[b][a] = w
    # per-qubit cost: readout + single-qubit error, plus the mean error of its couplers
    qubit_cost = target.qubit_cost
    mean_coupler = np.array(
        [
            np.mean([target.graph[q][p]["weight"] for p in target.graph[q]]) if target.graph[q] else 1.0
            for q in range(target.num_qubits)
        ]
    )
    layout = [-1] * n_log
    free = set(usable)
    order = sorted(range(n_log), key=lambda q: -sum(adj[q].values()))
    placed: list[int] = []
    while len(placed) < n_log:
        # next: the unplaced qubit most tied to the placed ones (ties: most interactions overall)
        rest = [q for q in order if layout[q] < 0]
        nxt = max(rest, key=lambda q: (sum(adj[q].get(p, 0) for p in placed), sum(adj[q].values()), -q))
        cand = np.array(sorted(free))
        cost = qubit_cost[cand] + 0.1 * mean_coupler[cand]
        for p, w in adj[nxt].items():
            if layout[p] >= 0:
                cost = cost + w * dist[cand, layout[p]]
        choice = int(cand[int(np.argmin(cost))])
        layout[nxt] = choice
        free.discard(choice)
        placed.append(nxt)
    return layout


def run(circuit: Circuit, ctx: PassContext) -> Circuit:
    if ctx.properties.get("layout") is None:
        ctx.properties["layout"] = noise_aware_layout(circuit, ctx.target)
    return circuit
