"""A compilation target: one object holding the qubits, coupling graph and native gate set."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

import networkx as nx


@dataclass
class Target:
    name: str
    num_qubits: int
    graph: nx.Graph
    native_gates: tuple[str, ...]
    source: str = ""
    metadata: dict = field(default_factory=dict)

    @property
    def fully_connected(self) -> bool:
        n = self.num_qubits
        return self.graph.number_of_edges() == n * (n - 1) // 2


def all_to_all(n: int, name: str | None = None) -> Target:
    """Every pair coupled; the IR's full gate set is native (the logical, noiseless target)."""
    from compiler.gates import GATES

    g = nx.Graph()
    g.add_nodes_from(range(n))
    g.add_edges_from(combinations(range(n), 2))
    return Target(name or f"all-to-all:{n}", n, g, tuple(GATES), source="ideal device")
