"""Placement of the two HQViT copies as units: two disjoint, compact regions of the coupling
graph, side by side, on good qubits, and each copy's tree order inside its region.

A region grows from a seed by adding the free neighbour with the most neighbours already inside
(compact shapes have more couplers, and the parity walks use every one), then the cheaper by the
Target's error costs. The second copy grows from the first one's border, so the feature pairs of
the swap test start close. Candidates are ranked by couplers inside and between the regions and
by calibrated error; the synthesis pass tries the best few and keeps the cheapest result.
Correctness does not depend on the choice: any two disjoint connected regions work.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import networkx as nx
import numpy as np

from hqvit.targets import Target

IDLE_WEIGHT = 1.5  # two-qubit gate durations per 2^n: the rough length of the walks


@dataclass(frozen=True)
class Placement:
    regions: tuple[tuple[int, ...], tuple[int, ...]]  # per copy, physical qubit of each tree level
    score: float

    def shape(self, copy: int, target: Target) -> tuple[tuple[int, int], ...]:
        """The region's couplers in level labels: what the parity walk depends on."""
        level = {q: j for j, q in enumerate(self.regions[copy])}
        return tuple(
            sorted((min(level[a], level[b]), max(level[a], level[b])) for a, b in _inside(self.regions[copy], target))
        )


def _inside(region, target: Target) -> list[tuple[int, int]]:
    s = set(region)
    return [(a, b) for a, b in target.edges if a in s and b in s]


def _adjacency(target: Target) -> dict[int, list[int]]:
    """The Target's coupling graph on its usable qubits, neighbours in ascending order."""
    g = target.graph.subgraph(target.usable_qubits)
    return {q: sorted(g[q]) for q in sorted(g)}


def grow_region(
    adj: dict[int, list[int]], seed: int, size: int, blocked: set[int], cost: np.ndarray
) -> list[int] | None:
    region, inside = [seed], {seed}
    hops = {seed: 0}
    while len(region) < size:
        frontier = {v for u in region for v in adj[u] if v not in inside and v not in blocked}
        if not frontier:
            return None
        for v in frontier:
            hops.setdefault(v, 1 + min(hops[u] for u in adj[v] if u in inside))
        nxt = min(frontier, key=lambda v: (-sum(u in inside for u in adj[v]), hops[v], cost[v], v))
        region.append(nxt)
        inside.add(nxt)
    return region


def _closeness(region: list[int], adj: dict[int, list[int]]) -> dict[int, float]:
    """``networkx.closeness_centrality`` of the region's induced subgraph, float for float
    (Wasserman-Faust scaling; BFS on the region): networkx's dispatch cost more than the rest of
    the placement search on small regions."""
    inside = set(region)
    out = {}
    for source in region:
        dist = {source: 0}
        frontier = [source]
        while frontier:
            nxt = []
            for u in frontier:
                for v in adj[u]:
                    if v in inside and v not in dist:
                        dist[v] = dist[u] + 1
                        nxt.append(v)
            frontier = nxt
        total = sum(dist.values())
        value = 0.0
        if total > 0.0 and len(region) > 1:
            value = (len(dist) - 1.0) / total
            value *= (len(dist) - 1.0) / (len(region) - 1)
        out[source] = value
    return out


def tree_order(region: list[int], target: Target, toward: set[int] | None = None) -> tuple[int, ...]:
    """Level 0 (the root) on the most central qubit; each next level on the qubit with the most
    neighbours among those already ordered, so the controls of every level sit close to its
    target; ties go to qubits nearer the other copy (``toward``), where the last levels, the
    feature qubits, are wanted for the swap test."""
    g = target.graph.subgraph(region)
    ends = [q for q in region if g.degree(q) == 1]
    if len(ends) == 2 and all(g.degree(q) <= 2 for q in region) and nx.is_connected(g):
        # a path: the root at the end away from the other copy, the levels in path order, so the
        # last levels (the features) start next to it; splitting levels off one end keeps the
        # walk's doubling steps short
        far = max(ends, key=lambda q: (sum(target.coupling.hops[q, p] for p in toward or ()), -q))
        return tuple(nx.shortest_path(g, far, next(q for q in ends if q != far)))
    central = _closeness(list(region), {q: list(g[q]) for q in region})
    near = {q: 0 for q in region}
    if toward:
        for q in region:
            near[q] = -sum(1 for p in target.graph[q] if p in toward)
    order = [max(region, key=lambda q: (central[q], -q))]
    while len(order) < len(region):
        placed = set(order)
        cand = [q for q in region if q not in placed and any(p in placed for p in g[q])]
        order.append(max(cand, key=lambda q: (sum(p in placed for p in g[q]), -near[q], central[q], -q)))
    return tuple(order)


def placement_costs(target: Target, copy_qubits: int) -> np.ndarray:
    """Per qubit: readout and one-qubit error, plus its idle decay 1/T1 + 1/T2 over a rough
    duration of the encoding (its walks are mostly sequential: about 1.5 * 2^n two-qubit gates).
    On fixed-coupler devices with slow gates the idle term dominates the ESP, and which qubits
    sit idle matters more than a few gates."""
    duration_us = target.durations_ns.get("two_qubit", 0.0) * IDLE_WEIGHT * (1 << copy_qubits) / 1000.0
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.nan_to_num(1.0 / np.asarray(target.t1_us, float), posinf=0.0) + np.nan_to_num(
            1.0 / np.asarray(target.t2_us, float), posinf=0.0
        )
    return np.asarray(target.qubit_cost, dtype=float) + duration_us * rate


def candidate_placements(target: Target, copy_qubits: int, limit: int, seeds: int = 48) -> list[Placement]:
    """Up to ``limit`` placements with distinct region shapes, best score first (lower is better)."""
    adj = _adjacency(target)
    cost = placement_costs(target, copy_qubits)
    mean_edge = np.mean(list(target.coupler_costs.values())) if target.couplers else 1.0
    order = sorted(adj, key=lambda q: (-len(adj[q]), cost[q], q))[:seeds]
    found: dict[tuple, Placement] = {}
    for seed in order:
        a = grow_region(adj, seed, copy_qubits, set(), cost)
        if a is None:
            continue
        border = sorted(
            {v for u in a for v in adj[u] if v not in a}, key=lambda v: (-sum(u in a for u in adj[v]), cost[v], v)
        )
        for b_seed in border[:3]:
            b = grow_region(adj, b_seed, copy_qubits, set(a), cost)
            if b is None:
                continue
            inner = _inside(a, target) + _inside(b, target)
            sa = set(a)
            cross = [(x, y) for x, y in target.edges if (x in sa and y in b) or (y in sa and x in b)]
            error = sum(target.coupler_costs[e] for e in inner) / (mean_edge * max(len(inner), 1))
            score = -10.0 * len(inner) - 2.0 * len(cross) + 5.0 * error + float(cost[a].sum() + cost[b].sum())
            oa = tree_order(a, target, set(b))
            ob = tree_order(b, target, set(a))
            p = Placement((oa, ob), score)
            key = (p.shape(0, target), p.shape(1, target))
            if key not in found or found[key].score > score:
                found[key] = p
    return sorted(found.values(), key=lambda p: (p.score, p.regions))[:limit]


def _paths(adj: dict[int, list[int]], region: tuple[int, ...], length: int) -> list[tuple[int, ...]]:
    inside = set(region)
    out: list[tuple[int, ...]] = []

    def extend(path: list[int]) -> None:
        if len(path) == length:
            out.append(tuple(path))
            return
        for v in adj[path[-1]]:
            if v in inside and v not in path:
                path.append(v)
                extend(path)
                path.pop()

    for q in region:
        extend([q])
    return out


def feature_arrangements(
    target: Target, placement: Placement, feature_levels: list[int], ends: list[list[int]], limit: int
) -> list[tuple[dict[int, int], dict[int, int]]]:
    """Where the feature qubits should end the encoding, per copy (region wire -> tree level):
    on a path in each region, so the ansatz's CNOT chain runs on couplers, with the m-th features
    of the two copies close, for the swap test's CNOTs. ``ends[copy][wire]`` is the level each
    wire would hold without a wish. Minimises the hops the features must move from there plus the
    extra hops between pairs (each hop is about one SWAP either way). The ``limit`` best."""
    adj = _adjacency(target)
    hops = target.coupling.hops
    length = len(feature_levels)
    pa = _paths(adj, placement.regions[0], length)
    pb = _paths(adj, placement.regions[1], length)
    if not pa or not pb:
        return []
    at = [{lv: placement.regions[c][w] for w, lv in enumerate(ends[c])} for c in range(2)]
    move_a = {p: sum(int(hops[at[0][lv], q]) for lv, q in zip(feature_levels, p, strict=True)) for p in pa}
    move_b = {p: sum(int(hops[at[1][lv], q]) for lv, q in zip(feature_levels, p, strict=True)) for p in pb}
    ranked = heapq.nsmallest(
        limit,
        (
            (move_a[a] + move_b[b] + sum(int(hops[x, y]) - 1 for x, y in zip(a, b, strict=True)), a, b)
            for a in pa
            for b in pb
        ),
    )
    wire_a = {q: w for w, q in enumerate(placement.regions[0])}
    wire_b = {q: w for w, q in enumerate(placement.regions[1])}
    return [
        (
            {wire_a[q]: lv for q, lv in zip(a, feature_levels, strict=True)},
            {wire_b[q]: lv for q, lv in zip(b, feature_levels, strict=True)},
        )
        for _, a, b in ranked
    ]
