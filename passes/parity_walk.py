"""Nearest-neighbour synthesis of a Möttönen tree as parity walks, one per level.

Why it is exact. Level k of the tree is the multiplexor U = prod_s exp(-i/2 beta_s Y_t Z^s) over
the subsets s of its controls (the Gray-code circuit of ``lower`` is one way to write it; its
step i rotates RY(theta_i) while the target holds t xor parity(gray(i))). Let a CNOT network C
leave wire w holding the linear form t + P (P a parity of the controls) and no other wire
holding t. Then C^dagger Y_w C = Y_t Z^P: Z_w maps to the parity of the variables w holds, and
X_w to X on the variables whose flip changes only wire w, which is exactly {t}. So RY(theta) on
w at that moment is exp(-i/2 theta Y_t Z^P), the same factor the Gray circuit applies for P.
The factors commute (they share Y_t, the rest are Z's), so any walk that rotates every parity P
once with the angle the Gray circuit gives P, and whose CNOTs end in a permutation of the
variables, is the multiplexor followed by that permutation, on every input state. The walk
uses only CNOTs between wires of the placed register, along couplers, and never touches a qubit
that is not yet prepared, so the angles stay the same affine symbols and the circuit still binds
per image. The permutation is folded into the layout.

Search: ``parity_walk_kernel.beam_walk`` per level; a GF(2) elimination along the coupling graph
(``cleanup_to_permutation``) turns what the levels leave mixed into a permutation at the end.
"""

from __future__ import annotations

import functools
from collections import deque
from dataclasses import dataclass

import numpy as np

from hqvit.ir.encoding import gray
from hqvit.passes.parity_walk_kernel import beam_walk

# (up to level k, beam width, extra depth): wide where the walk is short, narrow where it has
# hundreds of steps. A path has few couplers, so each step's enumeration is cheap and a wide beam
# pays (line, 10 qubits: 1.80x the logical count against 2.18x with the narrow one); on graphs
# with branches the narrow beam is as good (grid 2x5: 1.42x either way) and 10-50x faster.
BEAM_SCHEDULE = ((4, 8, 1), (6, 6, 1), (8, 4, 1), (10, 3, 0))
PATH_BEAM_SCHEDULE = ((6, 32, 1), (8, 16, 1), (10, 8, 0))
MAX_DEPTH = 6
SEARCH_LEVELS = 6  # larger levels are split by doubling (``_doubled_walk``)
PATH_SEARCH_LEVELS = 8  # line, 10 qubits: 1.69x in 14 s (7: 1.80x in 7 s)


@dataclass(frozen=True)
class WalkOp:
    """``kind`` "cx": CNOT(a -> b) on wires; "ry": RY on wire ``a`` with the Gray-step symbol
    ``step`` of level ``level`` (``b`` unused)."""

    kind: str
    a: int
    b: int = -1
    level: int = -1
    step: int = -1


@functools.cache
def gray_step_of_parity(k: int) -> dict[int, int]:
    """Parity mask (bit j = control j, the level-j qubit) -> Gray step i whose angle rotates it.
    At step i the Gray circuit's target holds t xor the controls set in gray(i), bit b of gray(i)
    being control k - 1 - b (``ir.encoding.gray_controls``)."""
    out = {}
    for i in range(1 << k):
        g, m = gray(i), 0
        for b in range(k):
            if (g >> b) & 1:
                m |= 1 << (k - 1 - b)
        out[m] = i
    return out


def _is_path(edges: list[tuple[int, int]]) -> bool:
    """Sparse: a tree (a path, or a heavy-hex piece with pendants), at most one cycle."""
    wires = {w for e in edges for w in e}
    return len(edges) <= len(wires)


def _schedule(k: int, edges: list[tuple[int, int]]) -> tuple[int, int]:
    schedule = PATH_BEAM_SCHEDULE if _is_path(edges) else BEAM_SCHEDULE
    for upto, beam, extra in schedule:
        if k <= upto:
            return beam, extra
    return schedule[-1][1], schedule[-1][2]


def walk_level(
    vals: list[int],
    edges: list[tuple[int, int]],
    k: int,
    seed: int = 0,
    desired: dict[int, int] | None = None,
    skip: frozenset[int] = frozenset(),
) -> tuple[list[WalkOp], list[int]]:
    """One multiplexor: rotate the 2^k parities of the level-k target (variable k), all but those
    in ``skip`` (angles that are identically zero), with CNOTs on ``edges`` only, and leave the
    wires a permutation of the variables. Returns the ops and the wire values after."""
    if k == 0:
        (w,) = [w for w, v in enumerate(vals) if v & 1]
        fix, vals = _arrange(list(vals), edges, desired)
        rotation = [] if 0 in skip else [WalkOp("ry", w, level=0, step=0)]
        return rotation + [WalkOp("cx", a, b) for a, b in fix], vals
    raw, vals = _walk(list(vals), list(edges), k, seed, clean_end=True, skip=skip)
    fix, vals = _arrange(vals, edges, desired)
    steps = gray_step_of_parity(k)
    ops = [WalkOp("cx", a, b) if kind == "cx" else WalkOp("ry", a, level=k, step=steps[b]) for kind, a, b in raw]
    return ops + [WalkOp("cx", a, b) for a, b in fix], vals


Raw = list[tuple[str, int, int]]  # ("cx", a, b) or ("ry", wire, parity mask)


def _walk(
    vals: list[int],
    edges: list[tuple[int, int]],
    k: int,
    seed: int,
    clean_end: bool,
    skip: frozenset[int] = frozenset(),
) -> tuple[Raw, list[int]]:
    """Rotate every parity of level k not in ``skip`` once (the wires may end mixed; with
    ``clean_end`` the search prefers an end that is cheap to turn back into a permutation)."""
    if k > (PATH_SEARCH_LEVELS if _is_path(edges) else SEARCH_LEVELS):
        doubled = _doubled_walk(vals, edges, k, seed, skip)
        if doubled is not None:
            return doubled
    return _searched_walk(vals, edges, k, seed, clean_end, skip)


def _doubled_walk(
    vals: list[int], edges: list[tuple[int, int]], k: int, seed: int, skip: frozenset[int] = frozenset()
) -> tuple[Raw, list[int]] | None:
    """Split off one control c: walk the parities without c (S), add c into the target's wire,
    walk S backwards, take c out again. Backwards, every state of S recurs with c added to every
    wire that holds the target (c's own wire is never touched), so S^-1 rotates exactly the
    parities with c. The wires end as they started: no clean-up, and the cost is 2|S| plus the
    two additions, against a search over 2^k steps. With ``skip``, S leaves out the parities
    whose partners with and without c are both skipped, and a rotation of a skipped parity is
    dropped from either half (a rotation changes no wire value)."""
    tbit = 1 << k
    (home,) = [w for w, v in enumerate(vals) if v & tbit]
    wires = {w for a, b in edges for w in (a, b)}
    adj = _adjacency(len(vals), edges)
    cuts = _cut_vertices(adj, wires)
    from_home = _bfs_parents(adj, home, wires)
    dist = {w: len(_path_to(from_home, w)) - 1 for w in wires}
    options = [w for w in wires - cuts if w != home and vals[w] and vals[w] & (vals[w] - 1) == 0 and vals[w] < tbit]
    if not options:
        return None
    cw = min(options, key=lambda w: (dist[w], w))
    cbit = vals[cw]
    # renumber: controls other than c -> bits 0..k-2, the target -> k-1, c -> k; later levels keep theirs
    old_bits = [b for b in range(k) if 1 << b != cbit] + [k, cbit.bit_length() - 1]
    to_new = {old: new for new, old in enumerate(old_bits)}

    def renumber(v: int, table: dict[int, int]) -> int:
        out = 0
        while v:
            low = v & -v
            b = low.bit_length() - 1
            out |= 1 << table.get(b, b)
            v ^= low
        return out

    to_old = {new: old for old, new in to_new.items()}
    sub_edges = [(a, b) for a, b in edges if cw not in (a, b)]
    sub_skip = frozenset(renumber(m, to_new) for m in skip if not m & cbit and m | cbit in skip)
    sub_raw, sub_end = _walk([renumber(v, to_new) for v in vals], sub_edges, k - 1, seed, False, sub_skip)
    forward: Raw = [(kind, a, renumber(b, to_old) if kind == "ry" else b) for kind, a, b in sub_raw]
    mid = [renumber(v, to_old) for v in sub_end]
    (holder,) = [w for w, v in enumerate(mid) if v & tbit]
    full_parent = _bfs_parents(adj, holder, wires)
    inject = [("cx", a, b) for a, b in _long_cx(_path_to(full_parent, cw))]
    backward: Raw = [(kind, a, b ^ cbit if kind == "ry" else b) for kind, a, b in reversed(forward)]
    eject = [("cx", a, b) for a, b in _long_cx(_path_to(from_home, cw))]
    ops = [op for op in forward + inject + backward + eject if op[0] == "cx" or op[2] not in skip]
    end = list(vals)
    for kind, a, b in ops:
        if kind == "cx":
            end[b] ^= end[a]
    assert end == vals, "a doubled walk must return every wire to its value"
    return ops, end


def _searched_walk(
    vals: list[int],
    edges: list[tuple[int, int]],
    k: int,
    seed: int,
    clean_end: bool,
    skip: frozenset[int] = frozenset(),
) -> tuple[Raw, list[int]]:
    moves = np.asarray(edges + [(b, a) for a, b in edges], np.int64).reshape(-1, 2)
    tbit = 1 << k
    beam, extra = _schedule(k, edges)
    vals = list(vals)
    (h,) = [w for w, v in enumerate(vals) if v & tbit]
    vis = set(skip)  # a skipped parity counts as rotated: the search never walks towards it
    ops: Raw = []
    if vals[h] ^ tbit not in vis:
        ops.append(("ry", h, vals[h] ^ tbit))
        vis.add(vals[h] ^ tbit)
    while len(vis) < 1 << k:
        words = np.zeros(((1 << k) + 63) >> 6, np.uint64)
        for m in vis:
            words[m >> 6] |= np.uint64(1 << (m & 63))
        done, parent, count, cnots, rot, finals, _ = beam_walk(
            np.asarray(vals, np.int64), words, moves, k, beam, extra, MAX_DEPTH, seed
        )
        j = 0
        if clean_end and done and len(vis) + done == 1 << k:
            # of the final states, the cheapest once the mixing it leaves is undone
            j = min(
                range(len(finals)),
                key=lambda i: (len(cleanup_to_permutation([int(v) for v in finals[i]], edges)[0]), i),
            )
        rows: list[tuple[int, int]] = []
        for step in range(done - 1, -1, -1):
            rows.append((-1 - int(rot[step, j, 0]), int(rot[step, j, 1])))
            rows += [(int(a), int(b)) for a, b in cnots[step, j, : count[step, j]][::-1]]
            j = int(parent[step, j])
        for a, b in reversed(rows):
            if a >= 0:
                ops.append(("cx", a, b))
                vals[b] ^= vals[a]
            else:
                ops.append(("ry", -1 - a, b))
                vis.add(b)
        if len(vis) < 1 << k:
            ops += _constructive_step(vals, vis, edges, k)
    return ops, vals


def _constructive_step(vals: list[int], vis: set[int], edges, k: int) -> Raw:
    """Reach the unrotated parity that is cheapest to add with restoring long-range CNOTs and
    rotate it (the search found none within ``MAX_DEPTH`` CNOTs). The wires other than the
    target's span the controls, so every parity is reachable this way."""
    tbit = 1 << k
    (h,) = [w for w, v in enumerate(vals) if v & tbit]
    wires = {w for a, b in edges for w in (a, b)} | {h}
    others = [w for w in sorted(wires) if w != h]
    adj = _adjacency(len(vals), edges)
    parent = _bfs_parents(adj, h, wires)
    hops = {w: len(_path_to(parent, w)) - 1 for w in others}
    basis = _basis(vals, others)
    best = None
    for m in range(1 << k):
        if m in vis:
            continue
        combo = _combination(basis, others, (vals[h] ^ tbit) ^ m)
        cost = sum(1 if hops[w] == 1 else 4 * (hops[w] - 1) for w in combo)
        if best is None or cost < best[0]:
            best = (cost, m, combo)
    _, m, combo = best
    ops: Raw = []
    for w in combo:
        for a, b in _long_cx(_path_to(parent, w)):
            vals[b] ^= vals[a]
            ops.append(("cx", a, b))
    assert vals[h] ^ tbit == m
    vis.add(m)
    ops.append(("ry", h, m))
    return ops


def _solve(vals: list[int], wires: list[int], target: int) -> list[int]:
    """The wires whose values XOR to ``target`` (GF(2) elimination; they must be independent)."""
    return _combination(_basis(vals, wires), wires, target)


def _basis(vals: list[int], wires: list[int]) -> list[tuple[int, int]]:
    """(reduced row, bitmask over ``wires``) with distinct leading bits, largest first."""
    basis: list[tuple[int, int]] = []
    for i, w in enumerate(wires):
        row, combo = vals[w], 1 << i
        for brow, bcombo in basis:
            if row ^ brow < row:
                row, combo = row ^ brow, combo ^ bcombo
        if row:
            basis.append((row, combo))
            basis.sort(key=lambda x: -x[0])
    return basis


def _combination(basis: list[tuple[int, int]], wires: list[int], target: int) -> list[int]:
    combo = 0
    for brow, bcombo in basis:
        if target ^ brow < target:
            target, combo = target ^ brow, combo ^ bcombo
    if target:
        raise AssertionError("the value is outside the span of the wires")
    return [w for i, w in enumerate(wires) if combo >> i & 1]


def _arrange(
    vals: list[int], edges: list[tuple[int, int]], desired: dict[int, int] | None
) -> tuple[list[tuple[int, int]], list[int]]:
    """Back to a permutation, with ``desired`` wires holding their variables: the cheaper of an
    elimination aimed at the desired permutation and a free elimination followed by SWAPs."""
    free, free_vals = cleanup_to_permutation(vals, edges)
    if not desired:
        return free, free_vals
    aimed = cleanup_to_permutation(vals, edges, desired)
    swaps = _token_swaps(free_vals, edges, desired)
    routed = free + [cx for a, b in swaps for cx in ((a, b), (b, a), (a, b))]
    if len(aimed[0]) <= len(routed):
        return aimed
    out = list(free_vals)
    for a, b in swaps:
        out[a], out[b] = out[b], out[a]
    return routed, out


def _token_swaps(vals: list[int], edges: list[tuple[int, int]], desired: dict[int, int]) -> list[tuple[int, int]]:
    """SWAPs along ``edges`` taking the permutation ``vals`` to one with ``desired``; the other
    variables go where it costs least (assignment by hop distance), then a greedy token swap: a
    swap that brings both tokens closer, else one that brings one closer without moving the
    other away, else the first token on its shortest path."""
    from scipy.optimize import linear_sum_assignment

    wires = sorted({w for e in edges for w in e} | set(desired))
    parents, hops = _hop_tables(len(vals), tuple(tuple(e) for e in edges), tuple(wires))
    var_at = {w: vals[w].bit_length() - 1 for w in wires}
    where = {v: w for w, v in var_at.items()}
    goal = {v: w for w, v in desired.items()}
    free_vars = [v for v in where if v not in goal]
    free_wires = [w for w in wires if w not in desired]
    cost = np.array([[hops[where[v]][w] for w in free_wires] for v in free_vars])
    rows, cols = linear_sum_assignment(cost)
    goal.update({free_vars[r]: free_wires[c] for r, c in zip(rows, cols, strict=True)})
    swaps: list[tuple[int, int]] = []
    pairs = [(a, b) for a, b in edges]

    def gain(a: int, b: int) -> tuple[int, int]:
        ta, tb = var_at[a], var_at[b]
        da = hops[a][goal[ta]] - hops[b][goal[ta]]
        db = hops[b][goal[tb]] - hops[a][goal[tb]]
        return da, db

    for _ in range(4 * len(wires) ** 2):
        if all(where[v] == goal[v] for v in goal):
            break
        move = next(((a, b) for a, b in pairs if gain(a, b) == (1, 1)), None)
        if move is None:
            move = next(((a, b) for a, b in pairs if min(gain(a, b)) >= 0 and max(gain(a, b)) > 0), None)
        if move is None:
            v = next(v for v in sorted(goal) if where[v] != goal[v])
            path = _path_to(parents[goal[v]], where[v])
            move = (path[0], path[1])
        a, b = move
        var_at[a], var_at[b] = var_at[b], var_at[a]
        where[var_at[a]], where[var_at[b]] = a, b
        swaps.append((a, b))
    return swaps


@functools.lru_cache(maxsize=1024)
def _hop_tables(
    num_wires: int, edges: tuple[tuple[int, int], ...], wires: tuple[int, ...]
) -> tuple[dict[int, dict[int, int]], dict[int, dict[int, int]]]:
    """BFS parents from every wire and the hop counts between wires (shared: read only)."""
    adj = _adjacency(num_wires, edges)
    parents = {w: _bfs_parents(adj, w, set(wires)) for w in wires}
    hops = {w: {u: len(_path_to(parents[w], u)) - 1 for u in wires} for w in wires}
    return parents, hops


def _adjacency(num_wires: int, edges) -> dict[int, list[int]]:
    adj: dict[int, list[int]] = {w: [] for w in range(num_wires)}
    for a, b in edges:
        adj[a].append(b)
        adj[b].append(a)
    return adj


def _bfs_parents(adj: dict[int, list[int]], root: int, allowed: set[int]) -> dict[int, int]:
    parent = {root: -1}
    queue = deque([root])
    while queue:
        u = queue.popleft()
        for v in adj[u]:
            if v in allowed and v not in parent:
                parent[v] = u
                queue.append(v)
    return parent


def _path_to(parent: dict[int, int], u: int) -> list[int]:
    path = [u]
    while parent[path[-1]] != -1:
        path.append(parent[path[-1]])
    return path


def _long_cx(path: list[int]) -> list[tuple[int, int]]:
    """CNOTs adding the row of path[0] into path[-1] along the path, every wire between restored
    (4(d - 1) CNOTs for d >= 2 hops)."""
    d = len(path) - 1
    if d == 1:
        return [(path[0], path[1])]
    up = [(path[i], path[i + 1]) for i in range(d - 1)]
    up_inner = up[1:]
    last = (path[d - 1], path[d])
    return up + [last] + up[::-1] + up_inner + [last] + up_inner[::-1]


def _cut_vertices(adj: dict[int, list[int]], nodes: set[int]) -> set[int]:
    """Wires whose removal disconnects the others (tiny graphs: one flood fill per wire, on
    bitmasks)."""
    masks = _neighbour_masks(adj)
    every = 0
    for w in nodes:
        every |= 1 << w
    cuts = set()
    for w in nodes:
        rest = every & ~(1 << w)
        if rest and not _connected(masks, rest):
            cuts.add(w)
    return cuts


def _neighbour_masks(adj: dict[int, list[int]]) -> list[int]:
    masks = [0] * (max(adj, default=-1) + 1)
    for u, vs in adj.items():
        for v in vs:
            masks[u] |= 1 << v
    return masks


def _connected(masks: list[int], nodes: int) -> bool:
    """Whether the wires in the bitmask ``nodes`` induce a connected graph (``nodes`` non-empty)."""
    reached = nodes & -nodes
    frontier = reached
    while frontier:
        grow = 0
        while frontier:
            low = frontier & -frontier
            grow |= masks[low.bit_length() - 1]
            frontier ^= low
        frontier = grow & nodes & ~reached
        reached |= frontier
    return reached == nodes


def cleanup_to_permutation(
    vals: list[int], edges: list[tuple[int, int]], desired: dict[int, int] | None = None
) -> tuple[list[tuple[int, int]], list[int]]:
    """CNOTs along ``edges`` that turn the invertible GF(2) map ``vals`` (wire -> mask of
    variables) into a permutation (each wire one variable; wire w gets variable ``desired[w]``
    where given, the others whatever is cheapest). Eliminates one wire at a time, always
    one that is not a cut vertex of the wires left, so the rest stays connected: first the column
    of its chosen variable is cleared elsewhere along a BFS tree (fill then clear), then the other
    variables of its row are removed by adding the rows that sum to them (long-range CNOTs).

    A function of its arguments only: the same clean-up is asked for many times per compile
    (the free end of a walk, then again inside each arrangement of it), so results are kept
    (fresh lists are returned each time)."""
    wish = tuple(sorted(desired.items())) if desired else ()
    fix, out = _cleanup(tuple(vals), tuple(tuple(e) for e in edges), wish)
    return list(fix), list(out)


@functools.lru_cache(maxsize=1 << 14)
def _cleanup(
    vals_in: tuple[int, ...], edges: tuple[tuple[int, int], ...], wish: tuple[tuple[int, int], ...]
) -> tuple[tuple[tuple[int, int], ...], tuple[int, ...]]:
    desired = dict(wish) if wish else None
    vals = list(vals_in)
    nodes = {w for w, v in enumerate(vals) if v}
    adj = _adjacency(len(vals), edges)
    out: list[tuple[int, int]] = []

    def cx(a: int, b: int) -> None:
        vals[b] ^= vals[a]
        out.append((a, b))

    remaining = set(nodes)
    while len(remaining) > 1:
        cuts = _cut_vertices(adj, remaining)
        best = None
        reserved = {v for w, v in (desired or {}).items() if w in remaining}
        width = max(vals).bit_length()
        # how many remaining wires hold each variable: the same for every candidate wire r
        cols = [sum(1 for w in remaining if vals[w] >> var & 1) for var in range(width)]
        for r in sorted(remaining - cuts):
            for var in range(width):
                if desired and (desired.get(r, var) != var or (r not in desired and var in reserved)):
                    continue
                bit = 1 << var
                col = cols[var]
                if not col:
                    continue
                cost = (col - (1 if vals[r] & bit else 0)) + (vals[r] & ~bit).bit_count() + (0 if vals[r] & bit else 2)
                if best is None or cost < best[0]:
                    best = (cost, r, bit)
        _, r, bit = best
        parent = _bfs_parents(adj, r, remaining)
        holders = [w for w in remaining if vals[w] & bit and w != r]
        tree: set[int] = {r}
        for w in holders:
            tree.update(_path_to(parent, w))
        if len(tree) > 1:
            # children before parents: depth order from the leaves
            depth = {w: len(_path_to(parent, w)) for w in tree}
            post = sorted(tree - {r}, key=lambda w: -depth[w])
            for w in post:  # fill: every tree wire gets the bit
                if not vals[parent[w]] & bit and vals[w] & bit:
                    cx(w, parent[w])
            for w in post:  # clear: every wire but r loses it
                if vals[w] & bit:
                    cx(parent[w], w)
        assert vals[r] & bit and not any(vals[w] & bit for w in remaining if w != r)
        rest = vals[r] & ~bit
        if rest:
            others = sorted(remaining - {r})
            for w in _solve(vals, others, rest):
                for a, b in _long_cx(_path_to(parent, w)):
                    cx(a, b)
        assert vals[r] == bit
        remaining.discard(r)
    return tuple(out), tuple(vals)


@dataclass
class TreeWalk:
    """A whole tree on ``num_wires`` wires: ops in time order and, per wire, the variable (tree
    level) it holds at the end."""

    ops: list[WalkOp]
    final_variable: list[int]

    @property
    def cnots(self) -> int:
        return sum(op.kind == "cx" for op in self.ops)


Skips = tuple[frozenset[int], ...]  # per level, the parity masks whose angle is identically zero


def walk_tree(
    num_wires: int,
    edges: list[tuple[int, int]],
    order: list[int],
    seed: int = 0,
    desired: dict[int, int] | None = None,
    skips: Skips = (),
) -> TreeWalk:
    """Level j's qubit starts on wire ``order[j]``; at the end wire w holds level ``desired[w]``
    where given (where the circuit after the tree wants it)."""
    ops, vals = walk_levels(num_wires, edges, order, seed, skips)
    return finish_walk(num_wires, edges, order, ops, vals, desired, skips)


def walk_levels(
    num_wires: int, edges: list[tuple[int, int]], order: list[int], seed: int = 0, skips: Skips = ()
) -> tuple[list[WalkOp], list[int]]:
    """Every level's walk; the wires are a permutation after each level but the last, which
    leaves them as its walk ends (``finish_walk`` then chooses the final permutation)."""
    n = len(order)
    skips = skips or tuple(frozenset() for _ in range(n))
    vals = [0] * num_wires
    for k, w in enumerate(order):
        vals[w] = 1 << k
    ops: list[WalkOp] = []
    for k in range(n - 1):
        level_ops, vals = walk_level(vals, edges, k, seed, skip=skips[k])
        ops += level_ops
    if n == 1:
        return ([] if 0 in skips[0] else [WalkOp("ry", order[0], level=0, step=0)]), vals
    steps = gray_step_of_parity(n - 1)
    raw, vals = _walk(list(vals), list(edges), n - 1, seed, clean_end=True, skip=skips[n - 1])
    ops += [WalkOp("cx", a, b) if kind == "cx" else WalkOp("ry", a, level=n - 1, step=steps[b]) for kind, a, b in raw]
    return ops, vals


def finish_walk(
    num_wires: int,
    edges: list[tuple[int, int]],
    order: list[int],
    ops: list[WalkOp],
    vals: list[int],
    desired: dict[int, int] | None = None,
    skips: Skips = (),
    check: bool = True,
) -> TreeWalk:
    """The walk of ``walk_levels`` closed by the CNOTs that leave the wanted permutation;
    checked (``check_tree_walk``) unless ``check`` is False, for a caller that checks every walk
    it emits itself and only scores the others."""
    ops = list(ops)
    if any(v & (v - 1) for v in vals) or desired:
        fix, vals = _arrange(list(vals), edges, desired)
        ops += [WalkOp("cx", a, b) for a, b in fix]
    final = [v.bit_length() - 1 if v else -1 for v in vals]
    if check:
        check_tree_walk(num_wires, edges, order, ops, final, skips)
    return TreeWalk(ops, final)


def check_tree_walk(
    num_wires: int, edges, order: list[int], ops: list[WalkOp], final: list[int], skips: Skips = ()
) -> None:
    """Replay on wire values, independently of the search: CNOTs only on ``edges`` between
    prepared wires, every rotation on the sole holder of its level's target with the parity its
    Gray step stands for, levels in order, every step of every level exactly once except the
    skipped ones (never), a permutation at the end."""
    coupled = {tuple(e) for e in edges} | {(b, a) for a, b in edges}
    n = len(order)
    skips = skips or tuple(frozenset() for _ in range(n))
    wanted = [{step for m, step in gray_step_of_parity(k).items() if m not in skips[k]} for k in range(n)]
    vals = [0] * num_wires
    for k, w in enumerate(order):
        vals[w] = 1 << k
    seen: list[set[int]] = [set() for _ in range(n)]
    level, tbit = 0, 1
    steps = gray_step_of_parity(0)
    holders = sum(1 for v in vals if v & tbit)  # wires holding the current level's target
    for op in ops:
        if op.kind == "cx":
            if (op.a, op.b) not in coupled:
                raise AssertionError(f"CNOT {op.a}->{op.b} is not on a coupler")
            if vals[op.a] & tbit:
                holders += -1 if vals[op.b] & tbit else 1
            vals[op.b] ^= vals[op.a]
            continue
        # the levels below are complete when a level starts; none of them can change later
        # (a rotation of a lower level fails here), so the check is needed only on a change
        if op.level != level:
            if op.level < level or any(seen[j] != wanted[j] for j in range(op.level)):
                raise AssertionError(f"level {op.level} starts before the levels below it are complete")
            level, tbit = op.level, 1 << op.level
            steps = gray_step_of_parity(level)
            holders = sum(1 for v in vals if v & tbit)
        a = op.a
        parity = vals[a] ^ tbit  # must be a parity of earlier levels only (< tbit)
        step = steps.get(parity)
        if (
            a < 0
            or holders != 1
            or not vals[a] & tbit
            or step != op.step
            or step not in wanted[level]
            or step in seen[level]
        ):
            raise AssertionError(f"rotation of level {level} step {op.step} on wire {op.a} is not exact")
        seen[level].add(step)
    if seen != wanted:
        raise AssertionError("the walk does not finish the tree")
    got = [v.bit_length() - 1 if v else -1 for v in vals]
    if any(v & (v - 1) for v in vals) or got != final:
        raise AssertionError("the walk does not end in a permutation")
