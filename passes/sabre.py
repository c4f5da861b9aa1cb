"""SABRE-class routing (Li et al. 2019, with LightSABRE's release valve), noise-aware.

Gates of a segment form a DAG; the front layer holds gates whose predecessors are done. Every
executable front gate is emitted at once; when none is, each SWAP on a coupler touching a front
qubit is scored by the distance it leaves the front layer (plus a weighted look-ahead over the
next gates), times a decay factor that discourages reusing the same qubits, plus the SWAP's own
error cost. Distances are shortest paths with coupler weights -log(1 - e) normalised to a mean
of 1, so routes prefer good couplers. If no front gate executes after many SWAPs (livelock), the
release valve walks the closest front gate to adjacency along its shortest path.

Correctness is the same argument as for the greedy router: every SWAP updates the layout, every
gate is emitted on the physical qubits holding its logical qubits, DAG order is kept per qubit.
Segments are routed in order with the layout carried over, so SWAPs never cross a boundary.
Several seeded trials run; the one with fewest SWAPs (ties: lowest total SWAP error) wins.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
from scipy.sparse.csgraph import shortest_path

from compiler.ir import Circuit, Gate, Measure, Segment
from targets import Target

from .route import apply_swap

EXTENDED_SIZE = 20
EXTENDED_WEIGHT = 0.5
DECAY_STEP = 0.001
DECAY_RESET = 5
SWAP_ERROR_WEIGHT = 0.2


@dataclass
class RoutingResult:
    circuit: Circuit
    final_layout: list[int]
    swaps: int
    swap_cost: float


class CouplingData:
    """Arrays for the hot loop: neighbour lists, normalised edge weights, all-pairs distances."""

    def __init__(self, target: Target):
        n = target.num_qubits
        usable = set(target.usable_qubits)
        w = np.full((n, n), np.inf)
        edges = [e for e in target.edges if e[0] in usable and e[1] in usable]
        raw = {e: -np.log(max(1.0 - target.couplers[e], 1e-12)) for e in edges}
        mean = float(np.mean(list(raw.values()))) if raw else 1.0
        mean = mean if mean > 0 else 1.0
        self.neighbours: list[list[int]] = [[] for _ in range(n)]
        self.edge_cost = {}
        for (a, b), r in raw.items():
            cost = r / mean if mean > 0 else 1.0
            w[a, b] = w[b, a] = cost
            self.neighbours[a].append(b)
            self.neighbours[b].append(a)
            self.edge_cost[(a, b)] = self.edge_cost[(b, a)] = cost
        self.cost_matrix = np.where(np.isfinite(w), w, 0.0)
        finite = self.cost_matrix
        self.dist = shortest_path(finite, directed=False, unweighted=False)
        self.hops = shortest_path(finite, directed=False, unweighted=True)
        self.next_hop = None
        self.coupled = np.isfinite(w)


def _segment_dag(ops: list) -> tuple[list[list[int]], list[int]]:
    succ: list[list[int]] = [[] for _ in ops]
    indeg = [0] * len(ops)
    last: dict[int, int] = {}
    for i, op in enumerate(ops):
        preds = {last[q] for q in op.qubits if q in last}
        for p in preds:
            succ[p].append(i)
        indeg[i] = len(preds)
        for q in op.qubits:
            last[q] = i
    return succ, indeg


def _route_segment(ops, l2p, p2l, cd: CouplingData, rng: np.random.Generator, out: list) -> tuple[int, float]:
    succ, indeg = _segment_dag(ops)
    front = [i for i, d in enumerate(indeg) if d == 0]
    decay = np.ones(len(cd.neighbours))
    swaps, swap_cost, since_progress, swaps_since_reset = 0, 0.0, 0, 0
    extended_for: tuple | None = None
    extended: list[int] = []
    while front:
        executed = True
        while executed:
            executed = False
            new_front = []
            for i in front:
                op = ops[i]
                if isinstance(op, Gate) and len(op.qubits) == 2:
                    a, b = l2p[op.qubits[0]], l2p[op.qubits[1]]
                    if not cd.coupled[a, b]:
                        new_front.append(i)
                        continue
                if isinstance(op, Measure):
                    out.append(Measure(tuple(l2p[q] for q in op.qubits)))
                else:
                    out.append(op.on(tuple(l2p[q] for q in op.qubits)))
                executed = True
                for j in succ[i]:
                    indeg[j] -= 1
                    if indeg[j] == 0:
                        new_front.append(j)
            front = new_front
            if executed:
                since_progress = 0
                decay[:] = 1.0
        if not front:
            break
        pairs = [(l2p[ops[i].qubits[0]], l2p[ops[i].qubits[1]]) for i in front]
        if since_progress > 10 * max(1, len(front)) + 20:  # release valve against livelock
            a, b = min(pairs, key=lambda ab: cd.hops[ab])
            path = _path(cd, a, b)
            for u, v in zip(path[:-2], path[1:-1], strict=True):
                apply_swap(u, v, l2p, p2l, out)
                swaps += 1
                swap_cost += cd.edge_cost[(u, v)]
            since_progress = 0
            continue
        key = tuple(front)
        if key != extended_for:  # the look-ahead set only changes when the front does
            extended, extended_for = _extended(front, succ, indeg, ops, EXTENDED_SIZE), key
        ext_pairs = [(l2p[ops[i].qubits[0]], l2p[ops[i].qubits[1]]) for i in extended]
        front_phys = {p for ab in pairs for p in ab}
        candidates = np.array(sorted({(min(p, q), max(p, q)) for p in front_phys for q in cd.neighbours[p]}))
        scores = _scores(np.array(pairs), np.array(ext_pairs, dtype=int).reshape(-1, 2), candidates, cd)
        scores = scores * np.maximum(decay[candidates[:, 0]], decay[candidates[:, 1]])
        scores = scores + SWAP_ERROR_WEIGHT * cd.cost_matrix[candidates[:, 0], candidates[:, 1]]
        best = np.flatnonzero(scores <= scores.min() + 1e-12)
        u, v = (int(x) for x in candidates[best[int(rng.integers(len(best)))]])
        apply_swap(u, v, l2p, p2l, out)
        swaps += 1
        swap_cost += cd.edge_cost[(u, v)]
        since_progress += 1
        swaps_since_reset += 1
        decay[u] += DECAY_STEP
        decay[v] += DECAY_STEP
        if swaps_since_reset >= DECAY_RESET:
            decay[:] = 1.0
            swaps_since_reset = 0
    return swaps, swap_cost


def _scores(pairs: np.ndarray, ext_pairs: np.ndarray, cand: np.ndarray, cd: CouplingData) -> np.ndarray:
    """For every candidate SWAP (u, v): mean distance of the front pairs after it, plus the
    weighted mean over the look-ahead pairs. Vectorized over candidates x pairs."""
    u, v = cand[:, :1], cand[:, 1:]

    def mean_after(pp: np.ndarray) -> np.ndarray:
        if len(pp) == 0:
            return np.zeros(len(cand))
        a, b = pp[None, :, 0], pp[None, :, 1]
        a2 = np.where(a == u, v, np.where(a == v, u, a))
        b2 = np.where(b == u, v, np.where(b == v, u, b))
        return cd.dist[a2, b2].mean(axis=1)

    return mean_after(pairs) + EXTENDED_WEIGHT * mean_after(ext_pairs)


def _extended(front, succ, indeg, ops, size) -> list[int]:
    """The next two-qubit gates after the front layer (breadth-first), for look-ahead."""
    out, seen, queue = [], set(front), deque(front)
    remaining: dict[int, int] = {}
    while queue and len(out) < size:
        i = queue.popleft()
        for j in succ[i]:
            if j in seen:
                continue
            remaining[j] = remaining.get(j, indeg[j]) - 1
            if remaining[j] <= 0:
                seen.add(j)
                queue.append(j)
                if isinstance(ops[j], Gate) and len(ops[j].qubits) == 2:
                    out.append(j)
    return out


def _path(cd: CouplingData, a: int, b: int) -> list[int]:
    path = [a]
    while path[-1] != b:
        cur = path[-1]
        path.append(min(cd.neighbours[cur], key=lambda n: (cd.hops[n, b], n)))
    return path


def sabre_route_once(
    circuit: Circuit, cd: CouplingData, num_qubits: int, layout: list[int], seed: int
) -> RoutingResult:
    rng = np.random.default_rng(seed)
    l2p = list(layout)
    p2l = {p: q for q, p in enumerate(l2p)}
    segments, swaps, cost = [], 0, 0.0
    for seg in circuit.segments:
        out: list = []
        s, c = _route_segment(seg.ops, l2p, p2l, cd, rng, out)
        swaps, cost = swaps + s, cost + c
        segments.append(Segment(seg.name, out))
    return RoutingResult(Circuit(num_qubits, segments, dict(circuit.symbols), {}), l2p, swaps, cost)


def sabre_route(
    circuit: Circuit,
    target: Target,
    layout: list[int],
    trials: int = 4,
    seed: int = 0,
    cd: CouplingData | None = None,
    score=None,
) -> RoutingResult:
    """Best of ``trials`` seeded SABRE runs from the same initial layout, by ``score`` (default:
    fewest SWAPs, then lowest SWAP error)."""
    cd = cd or CouplingData(target)
    results = [sabre_route_once(circuit, cd, target.num_qubits, layout, seed * 1000 + t) for t in range(trials)]
    return min(results, key=score or (lambda r: (r.swaps, r.swap_cost)))
