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

import bisect
import weakref
from dataclasses import dataclass

import numpy as np

from hqvit.targets import Target

IDLE_WEIGHT = 1.5  # two-qubit gate durations per 2^n: the rough length of the walks


@dataclass(frozen=True)
class Placement:
    regions: tuple[tuple[int, ...], tuple[int, ...]]  # per copy, physical qubit of each tree level
    score: float

    def shape(self, copy: int, target: Target) -> tuple[tuple[int, int], ...]:
        """The region's couplers in level labels: what the parity walk depends on."""
        return _shape(self.regions[copy], target)


def _shape(region: tuple[int, ...], target: Target) -> tuple[tuple[int, int], ...]:
    level = {q: j for j, q in enumerate(region)}
    return tuple(sorted((min(level[a], level[b]), max(level[a], level[b])) for a, b in _inside(region, target)))


def _inside(region, target: Target) -> list[tuple[int, int]]:
    """The couplers between qubits of ``region``, in ``target.edges`` order (sorted)."""
    s = set(region)
    nb = _views(target).full
    return sorted((q, p) for q in s for p in nb[q] if q < p and p in s)


@dataclass(frozen=True)
class _Views:
    full: dict[int, list[int]]  # every qubit's neighbours in the coupling graph, ascending
    usable: dict[int, list[int]]  # the same on the usable qubits only (``_adjacency``)


_VIEWS: dict[int, tuple[weakref.ref, _Views]] = {}


def _views(target: Target) -> _Views:
    """Plain adjacency lists of ``target``'s coupling graph, built once per Target object (a
    Target is not mutated after construction): the placement search asks for them thousands of
    times, and networkx views cost more than the search itself."""
    hit = _VIEWS.get(id(target))
    if hit is not None and hit[0]() is target:
        return hit[1]
    full: dict[int, list[int]] = {q: [] for q in range(target.num_qubits)}
    for a, b in target.couplers:
        full[a].append(b)
        full[b].append(a)
    for q in full:
        full[q].sort()
    usable = set(target.usable_qubits)
    views = _Views(full, {q: [p for p in full[q] if p in usable] for q in sorted(usable)})
    if len(_VIEWS) >= 64:
        _VIEWS.clear()
    _VIEWS[id(target)] = (weakref.ref(target), views)
    return views


def _adjacency(target: Target) -> dict[int, list[int]]:
    """The Target's coupling graph on its usable qubits, neighbours in ascending order (shared:
    callers must not modify it)."""
    return _views(target).usable


def grow_region(
    adj: dict[int, list[int]], seed: int, size: int, blocked: set[int], cost: np.ndarray
) -> list[int] | None:
    """Grow ``seed`` to ``size`` qubits outside ``blocked``: each step adds the frontier qubit with
    the most neighbours inside, then the fewest hops from the seed (fixed when it joins the
    frontier), the lower cost, the lower index; None if the frontier runs out. The frontier and
    its inside-neighbour counts are kept as the region grows (the same sets and counts a rescan
    would find)."""
    region, inside = [seed], {seed}
    hops = {seed: 0}
    inner: dict[int, int] = {}  # frontier qubit -> its neighbours inside
    joined = seed
    while len(region) < size:
        for v in adj[joined]:
            if v not in inside and v not in blocked:
                inner[v] = inner.get(v, 0) + 1
                if v not in hops:
                    hops[v] = 1 + min(hops[u] for u in adj[v] if u in inside)
        if not inner:
            return None
        joined = min(inner, key=lambda v: (-inner[v], hops[v], cost[v], v))
        del inner[joined]
        region.append(joined)
        inside.add(joined)
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


@dataclass(frozen=True)
class _Region:
    """What ``tree_order`` reads of a region besides ``toward``: a function of the region as a
    set (neighbour lists follow the coupling graph's ascending order; every choice made from
    ``ends`` or the region is a max with the qubit as last key), so regions equal as sets share
    it. ``central`` is None for a path (not needed there)."""

    nb: dict[int, list[int]]
    ends: list[int]
    path: bool
    central: dict[int, float] | None


def _region(region: list[int], target: Target, memo: dict | None) -> _Region:
    key = frozenset(region)
    if memo is not None and key in memo:
        return memo[key]
    full = _views(target).full
    nb = {q: [p for p in full[q] if p in key] for q in region}
    ends = [q for q in region if len(nb[q]) == 1]
    path = len(ends) == 2 and all(len(nb[q]) <= 2 for q in region) and _is_connected(nb, region)
    view = _Region(nb, ends, path, None if path else _closeness(list(region), nb))
    if memo is not None:
        memo[key] = view
    return view


def tree_order(
    region: list[int], target: Target, toward: set[int] | None = None, memo: dict | None = None
) -> tuple[int, ...]:
    """Level 0 (the root) on the most central qubit; each next level on the qubit with the most
    neighbours among those already ordered, so the controls of every level sit close to its
    target; ties go to qubits nearer the other copy (``toward``), where the last levels, the
    feature qubits, are wanted for the swap test. ``memo``: a dict shared by calls on the same
    target, keeping each region's ``_Region`` (the placement search orders the same regions
    toward different partners)."""
    full = _views(target).full
    view = _region(region, target, memo)
    nb, ends = view.nb, view.ends
    if view.path:
        # a path: the root at the end away from the other copy, the levels in path order, so the
        # last levels (the features) start next to it; splitting levels off one end keeps the
        # walk's doubling steps short
        far = max(ends, key=lambda q: (sum(target.coupling.hops[q, p] for p in toward or ()), -q))
        path, prev = [far], -1
        while len(path) < len(region):
            (nxt,) = [p for p in nb[path[-1]] if p != prev]
            prev = path[-1]
            path.append(nxt)
        return tuple(path)
    central = view.central
    near = {q: 0 for q in region}
    if toward:
        for q in region:
            near[q] = -sum(1 for p in full[q] if p in toward)
    # the candidates are the unordered qubits next to ordered ones, with their ordered
    # neighbours counted as the order grows (the counts a rescan would find)
    order: list[int] = []
    next_to: dict[int, int] = {}
    nxt = max(region, key=lambda q: (central[q], -q))
    while True:
        order.append(nxt)
        next_to.pop(nxt, None)
        if len(order) == len(region):
            return tuple(order)
        for p in nb[nxt]:
            if p not in order:
                next_to[p] = next_to.get(p, 0) + 1
        nxt = max(next_to, key=lambda q: (next_to[q], -near[q], central[q], -q))


def _is_connected(nb: dict[int, list[int]], region) -> bool:
    start = next(iter(region))
    seen, stack = {start}, [start]
    while stack:
        for p in nb[stack.pop()]:
            if p not in seen:
                seen.add(p)
                stack.append(p)
    return len(seen) == len(nb)


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
    """Up to ``limit`` placements with distinct region shapes, best score first (lower is better).

    A pair of regions scoring above ``kept[limit - 1]``, the ``limit``-th smallest score in
    ``found`` so far, is skipped before its tree orders and shape are computed. Why the result
    is the same: ``found`` holds one entry per shape, entries are only added or lowered, so that
    threshold never rises, and the result is the ``limit`` entries of least (score, regions), all
    scoring at most the final threshold. Kept, the pair could only add or lower an entry to a
    score above it, never returned; the later pairs of its shape replace that entry or not, and
    either way the shape's entry still scores above the threshold; every other entry is the same."""
    adj = _adjacency(target)
    full = _views(target).full
    cost = placement_costs(target, copy_qubits)
    mean_edge = np.mean(list(target.coupler_costs.values())) if target.couplers else 1.0
    order = sorted(adj, key=lambda q: (-len(adj[q]), cost[q], q))[:seeds]
    found: dict[tuple, Placement] = {}
    # tree orders and shapes depend on the regions as sets only, and many seeds grow the same
    # regions: each is computed once (scores are not shared: their sums follow the growth order)
    shaped: dict[tuple[frozenset[int], frozenset[int]], tuple] = {}
    views: dict = {}  # tree_order's per-region work
    kept: list[float] = []  # the scores in ``found``, ascending
    for seed in order:
        a = grow_region(adj, seed, copy_qubits, set(), cost)
        if a is None:
            continue
        sa = set(a)
        border = sorted(
            {v for u in a for v in adj[u] if v not in sa}, key=lambda v: (-sum(u in sa for u in adj[v]), cost[v], v)
        )
        inner_a = _inside(a, target)
        for b_seed in border[:3]:
            b = grow_region(adj, b_seed, copy_qubits, sa, cost)
            if b is None:
                continue
            sb = set(b)
            inner = inner_a + _inside(b, target)
            cross = sum(1 for x in a for y in full[x] if y in sb)
            error = sum(target.coupler_costs[e] for e in inner) / (mean_edge * max(len(inner), 1))
            score = -10.0 * len(inner) - 2.0 * cross + 5.0 * error + float(cost[a].sum() + cost[b].sum())
            if 0 < limit <= len(kept) and score > kept[limit - 1]:
                continue  # it could only make an entry that is not returned (see the docstring)
            pair = (frozenset(a), frozenset(b))
            if pair not in shaped:
                regions = (tree_order(a, target, sb, views), tree_order(b, target, sa, views))
                shaped[pair] = (regions, (_shape(regions[0], target), _shape(regions[1], target)))
            regions, key = shaped[pair]
            p = Placement(regions, score)
            if key not in found or found[key].score > score:
                if key in found:
                    kept.pop(bisect.bisect_left(kept, found[key].score))
                bisect.insort(kept, score)
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
    extra hops between pairs (each hop is about one SWAP either way). The ``limit`` best, ties by
    the paths (the first copy's, then the second's, as tuples)."""
    hops = target.coupling.hops
    tables = _path_tables(target, placement.regions, len(feature_levels))
    if tables is None:
        return []
    pa, pb, qa, qb, order, pair = tables
    at = [np.array([placement.regions[c][ends[c].index(lv)] for lv in feature_levels]) for c in range(2)]
    move_a = hops[at[0][None, :], qa].sum(axis=1)
    move_b = hops[at[1][None, :], qb].sum(axis=1)
    total = (move_a[:, None] + move_b[None, :]).astype(np.int64) + pair
    # the key orders by total, then by the paths as tuples (``order``: their lexicographic ranks)
    key = total.ravel() * order.size + order.ravel()
    take = min(limit, key.size)
    if take <= 0:
        return []
    best = np.argpartition(key, take - 1)[:take] if take < key.size else np.arange(key.size)
    best = best[np.argsort(key[best])]
    wire_a = {q: w for w, q in enumerate(placement.regions[0])}
    wire_b = {q: w for w, q in enumerate(placement.regions[1])}
    out = []
    for i in best.tolist():
        a, b = pa[i // len(pb)], pb[i % len(pb)]
        out.append(
            (
                {wire_a[q]: lv for q, lv in zip(a, feature_levels, strict=True)},
                {wire_b[q]: lv for q, lv in zip(b, feature_levels, strict=True)},
            )
        )
    return out


_TABLES: dict[int, tuple[weakref.ref, dict]] = {}


def _path_tables(target: Target, regions: tuple[tuple[int, ...], tuple[int, ...]], length: int):
    """Per placement and feature count, what ``feature_arrangements`` needs besides the ends: the
    paths of each region, as lists and as (paths, length) qubit arrays, the rank of each pair
    (a, b) in lexicographic order, and each pair's extra hops between partners; None without
    paths. Kept per Target object, like ``_views``."""
    hit = _TABLES.get(id(target))
    if hit is None or hit[0]() is not target:
        if len(_TABLES) >= 64:
            _TABLES.clear()
        hit = _TABLES[id(target)] = (weakref.ref(target), {})
    memo = hit[1]
    key = (regions, length)
    if key not in memo:
        adj = _adjacency(target)
        pa = _paths(adj, regions[0], length)
        pb = _paths(adj, regions[1], length)
        if not pa or not pb:
            memo[key] = None
        else:
            hops = target.coupling.hops
            qa, qb = np.array(pa, np.int64), np.array(pb, np.int64)
            rank_a = np.empty(len(pa), np.int64)
            rank_a[sorted(range(len(pa)), key=pa.__getitem__)] = np.arange(len(pa))
            rank_b = np.empty(len(pb), np.int64)
            rank_b[sorted(range(len(pb)), key=pb.__getitem__)] = np.arange(len(pb))
            order = rank_a[:, None] * len(pb) + rank_b[None, :]
            pair = (hops[qa[:, None, :], qb[None, :, :]] - 1).sum(axis=2).astype(np.int64)
            memo[key] = (pa, pb, qa, qb, order, pair)
    return memo[key]
