"""HQViT-aware synthesis: place both copies as units and lower their Möttönen trees directly onto
the device as nearest-neighbour parity walks; only the ansatz and the swap test are routed.

Input: the logical HQViT circuit with its high-level operations (an ``encode`` segment of
``AmplitudeEncode``s). Output: the physical circuit, with ``layout`` (logical -> physical before
the first gate) and ``final_layout`` in the properties, like a routing pass.

Why it is correct: each tree is the walk of ``passes.parity_walk`` (exact on every input, up to
a permutation of its register, see there) on the qubits of its region, with the region's
couplers only; the permutation becomes the layout the rest of the circuit starts from, and the
rest (lowered ansatz and swap test, cancelled and consolidated like the generic path) is routed
by SABRE from that layout. Angles are the encoding's own affine data symbols, untouched, so the
compiled circuit binds per image. A specialized encoding (``AmplitudeEncode.zero_steps``) walks
only the parities whose angle is not identically zero. The pass leaves a circuit without an ``AmplitudeEncode``
unchanged (the generic path then routes it), and so the ``--qasm`` input always takes that path.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

import numpy as np

from hqvit.ir.angles import Angle
from hqvit.ir.circuit import AmplitudeEncode, Circuit, Gate, Measure, Segment
from hqvit.passes import cancel, consolidate, expand_three_qubit, lower, sabre, two_qubit_cost
from hqvit.passes.base import PassContext
from hqvit.passes.parity_walk import (
    Skips,
    TreeWalk,
    check_tree_walk,
    cleanup_to_permutation,
    finish_walk,
    gray_step_of_parity,
)
from hqvit.passes.register_placement import Placement, candidate_placements, feature_arrangements
from hqvit.passes.walk_cache import cached_walk_levels

REST_TRIALS = 64
# feature end positions tried per placement besides the free one (each costs a clean-up and a
# routing of the small rest, not a walk)
ARRANGEMENTS_TRIED = 4
LARGE_TREE = 9
WALK_SEEDS = {1: 1, 2: 4, 4: 8}  # by the preset's placement count (opt 1, 2, 3); trees of up to 7 qubits only


class SynthesisUnavailable(ValueError):
    """The device has no two disjoint connected regions for the copies: the pipeline falls back
    to the generic path (which routes through whatever connects them)."""


def applicable(circuit: Circuit) -> bool:
    """An encode segment of exactly two amplitude encodings of equal, disjoint registers (the
    HQViT copies), nothing else in it."""
    seg = next((s for s in circuit.segments if s.name == "encode"), None)
    if seg is None or len(seg.ops) != 2 or not all(isinstance(op, AmplitudeEncode) for op in seg.ops):
        return False
    a, b = (op.qubits for op in seg.ops)
    return len(a) == len(b) and not set(a) & set(b)


def _skips(op: AmplitudeEncode) -> Skips:
    """The parity masks a specialized encoding never rotates, per level."""
    if not op.zero_steps:
        return ()
    masks = [{step: m for m, step in gray_step_of_parity(k).items()} for k in range(len(op.qubits))]
    return tuple(frozenset(masks[k][i] for i in steps) for k, steps in enumerate(op.zero_steps))


@functools.lru_cache(maxsize=64)
def _levels(shape: tuple[tuple[int, int], ...], n: int, seed: int, skips: Skips = ()) -> tuple[list, list[int]]:
    """Walks depend only on the region's couplers in level labels (and the skipped parities):
    cached across placements, copies and compiles, and on disk (``walk_cache``); the last level's
    end is not yet cleaned up. A specialized tree also tries the full walk with the skipped
    rotations left out (exact too: a rotation changes no wire) and keeps the cheaper, so a
    specialization never costs CNOTs."""
    ops, vals = cached_walk_levels(shape, n, seed, skips)
    if not any(skips):
        return ops, vals
    full_ops, full_vals = _levels(shape, n, seed)
    dropped = [{gray_step_of_parity(k)[m] for m in skipped} for k, skipped in enumerate(skips)]
    pruned = [op for op in full_ops if op.kind == "cx" or op.step not in dropped[op.level]]
    return min((ops, vals), (pruned, full_vals), key=lambda w: _walk_cost(w[0], w[1], shape))


def _walk_cost(ops: list, vals: list[int], shape: tuple[tuple[int, int], ...]) -> int:
    """CNOTs of a walk and of the clean-up its last level needs."""
    return sum(op.kind == "cx" for op in ops) + len(cleanup_to_permutation(list(vals), list(shape))[0])


@functools.lru_cache(maxsize=4096)
def _finished(
    shape: tuple[tuple[int, int], ...], n: int, seed: int, skips: Skips, desired: tuple[tuple[int, int], ...]
) -> TreeWalk:
    """``finish_walk`` of a cached walk: placements of the same shape and wishes that agree share
    it (a function of its arguments only; callers never modify the result). Not checked here:
    most candidates are only scored; ``_checked`` replays the walks the pass emits."""
    ops, vals = _levels(shape, n, seed, skips)
    return finish_walk(n, list(shape), list(range(n)), ops, vals, dict(desired), skips, check=False)


@functools.lru_cache(maxsize=4096)
def _checked(
    shape: tuple[tuple[int, int], ...], n: int, seed: int, skips: Skips, desired: tuple[tuple[int, int], ...]
) -> TreeWalk:
    """``_finished``, replayed by ``check_tree_walk`` (raises if the walk is not exact)."""
    walk = _finished(shape, n, seed, skips, desired)
    check_tree_walk(n, list(shape), list(range(n)), walk.ops, walk.final_variable, skips)
    return walk


def _free_end(shape: tuple[tuple[int, int], ...], n: int, seed: int, skips: Skips = ()) -> list[int]:
    """Where each level would end with the cheapest clean-up (wire -> level)."""
    _, vals = _levels(shape, n, seed, skips)
    _, out = cleanup_to_permutation(list(vals), list(shape))
    return [v.bit_length() - 1 for v in out]


@functools.lru_cache(maxsize=1 << 16)
def _tree_angle(prefix: str, level: int, step: int) -> Angle:
    return Angle.symbol(f"{prefix}{level}_{step}")


def _encode_gates(op: AmplitudeEncode, region: tuple[int, ...], walk: TreeWalk) -> list[Gate]:
    """Physical gates of one tree."""
    gates = []
    for w in walk.ops:
        if w.kind == "cx":
            gates.append(Gate("cx", (region[w.a], region[w.b])))
        else:
            gates.append(Gate("ry", (region[w.a],), (_tree_angle(op.prefix, w.level, w.step),)))
    return gates


@functools.lru_cache(maxsize=4096)
def _wire_rows(key: tuple, prefix: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``two_qubit_cost`` rows of the finished walk ``_finished(*key)`` on wire indices (-1 where a
    row has no qubit): what ``_encode_gates`` builds, before the region maps wires to qubits."""
    cx, ry = two_qubit_cost.ID["cx"], two_qubit_cost.ID["ry"]
    walk = _finished(*key)
    names = np.array([cx if w.kind == "cx" else ry for w in walk.ops], np.int64)
    wires = np.array([(w.a, w.b if w.kind == "cx" else -1, -1) for w in walk.ops], np.int64).reshape(-1, 3)
    zero = (0.0, 0.0, 0.0)
    rows = [
        zero if w.kind == "cx" else two_qubit_cost.angle_row(_tree_angle(prefix, w.level, w.step)) for w in walk.ops
    ]
    return names, wires, np.array(rows, np.float64).reshape(-1, 3)


def _encode_rows(trees: list[tuple[AmplitudeEncode, tuple[int, ...], TreeWalk, tuple]]):
    """``two_qubit_cost`` rows of the encode segment ``_encode_gates`` would build (one segment)."""
    parts = []
    for op, region, _, key in trees:
        names, wires, angles = _wire_rows(key, op.prefix)
        qubits = np.append(np.asarray(region, np.int64), -1)[wires]  # wire -1 stays -1
        parts.append((names, qubits, angles))
    names, qubits, angles = (np.concatenate(p) for p in zip(*parts, strict=True))
    return names, qubits, angles, np.asarray([0, len(names)], np.int64)


@dataclass
class Candidate:
    """One synthesized compile, scored without building it: the exact cost is additive over
    segments (SWAP expansion and cancellation never cross a segment boundary), so it is the encode
    segment's plus the rest routing's, each computed once."""

    cost: tuple[float, int]
    trees: list[tuple[AmplitudeEncode, tuple[int, ...], TreeWalk, tuple]]  # op, region, walk, its key
    layout: list[int]
    best: sabre.RoutingResult

    def physical(self, circuit: Circuit, target) -> Circuit:
        gates = [g for op, region, walk, _ in self.trees for g in _encode_gates(op, region, walk)]
        segments = [Segment("encode", gates)] + list(self.best.circuit.segments)
        return Circuit(target.num_qubits, segments, dict(circuit.symbols), {})


def _rest(circuit: Circuit, ctx: PassContext) -> Circuit:
    """The non-encode segments lowered and cleaned like the generic path does before routing."""
    rest = circuit.with_segments([s for s in circuit.segments if s.name != "encode"])
    rest = expand_three_qubit.run(lower.run(rest, ctx), ctx)
    if ctx.options.get("cancel"):
        rest = consolidate.run(cancel.run(rest, ctx), ctx)
    return rest


def synthesize(
    circuit: Circuit,
    ctx: PassContext,
    placement: Placement,
    rest: sabre.FlatCircuit | None = None,
    routings: dict | None = None,
) -> list[Candidate]:
    """One placement, with each candidate end position of the features (``rest``: the lowered
    non-encode segments, built once by the caller for every placement and candidate;
    ``routings``: the rest's best routing by the start positions of the qubits it routes, shared
    the same way)."""
    target = ctx.target
    rest = rest or sabre.FlatCircuit(_rest(circuit, ctx))
    routings = routings if routings is not None else {}
    routed = _routed_qubits(rest)
    encodes = next(s for s in circuit.segments if s.name == "encode").ops
    n_features = len(circuit.registers.get("feature1", ()))
    n = len(encodes[0].qubits)
    shapes = [placement.shape(copy, target) for copy in range(len(encodes))]
    # small trees are cheap to walk: several seeds give several ends to arrange and route from
    seeds = [ctx.seed * 1000 + s for s in range(WALK_SEEDS.get(ctx.options.get("placements", 1), 1) if n <= 7 else 1)]
    out = []
    for seed in seeds:
        wishes: list[tuple[dict[int, int], ...]] = [tuple({} for _ in encodes)]
        if n_features and len(encodes) == 2:
            ends = [_free_end(shape, n, seed, _skips(op)) for shape, op in zip(shapes, encodes, strict=True)]
            wishes += feature_arrangements(target, placement, list(range(n - n_features, n)), ends, ARRANGEMENTS_TRIED)
        out += [
            _synthesize_with(circuit, ctx, placement, shapes, desired, seed, rest, routings, routed)
            for desired in wishes
        ]
    return out


def _synthesize_with(
    circuit: Circuit,
    ctx: PassContext,
    placement: Placement,
    shapes,
    desired,
    seed: int,
    rest: sabre.FlatCircuit,
    routings: dict,
    routed: tuple[int, ...],
):
    target = ctx.target
    encodes = next(s for s in circuit.segments if s.name == "encode").ops
    n = len(encodes[0].qubits)
    trees = []
    start: dict[int, int] = {}
    after: dict[int, int] = {}
    for copy, op in enumerate(encodes):
        region = placement.regions[copy]
        key = (shapes[copy], n, seed, _skips(op), tuple(sorted(desired[copy].items())))
        walk = _finished(*key)
        trees.append((op, region, walk, key))
        start.update({q: region[j] for j, q in enumerate(op.qubits)})
        after.update({op.qubits[var]: region[wire] for wire, var in enumerate(walk.final_variable)})
    # qubits outside the trees (the CSWAP ancilla) go to the free qubit nearest the feature pairs
    used = set(start.values())
    dist = target.error_distances
    for q in range(circuit.num_qubits):
        if q not in start:
            free = [p for p in target.usable_qubits if p not in used]
            p = min(free, key=lambda p: (sum(dist[p, x] for x in after.values()), p))
            start[q] = after[q] = p
            used.add(p)
    layout_after = [after[q] for q in range(circuit.num_qubits)]
    # the rest is small: many seeded trials cost little next to the walks; the trials depend only
    # on where the start layout puts the qubits the rest routes (``_routed_qubits``), which many
    # candidates share
    key = tuple(layout_after[q] for q in routed)
    if key not in routings:
        routings[key] = sabre.sabre_route_best(rest, target, layout_after, REST_TRIALS, ctx.seed, ctx.coupling)
    best = _from_layout(routings[key], layout_after)
    enc_weighted, enc_count = two_qubit_cost.raw_cost_of_rows(
        _encode_rows(trees), target.num_qubits, ctx.coupling.cost_matrix
    )
    rest_weighted, rest_count = sabre.exact_cost(best, ctx.coupling)
    cost = (round(enc_weighted + rest_weighted, 9), enc_count + rest_count)
    return Candidate(cost, trees, [start[q] for q in range(circuit.num_qubits)], best)


def _routed_qubits(rest: sabre.FlatCircuit) -> tuple[int, ...]:
    """The logical qubits whose start positions the rest's routing depends on: those of its
    operations, except the ones only a final measurement of every qubit touches (the HQViT
    index registers). The router (``sabre_kernel._advance``) reads the layout only through
    the qubits of the operations it schedules, and a measurement of every qubit runs last: it
    resets the kernel's per-qubit SWAP-merge state when nothing follows, so its qubits change no
    SWAP, no count and no cost (``exact_cost`` reads it as an opaque row at the end). Routings
    from two layouts that agree on these qubits are the same events; ``_from_layout`` moves one
    onto the other's layout (tests/compiler/test_synthesis.py checks both against a fresh
    routing)."""
    ops = rest.ops
    qubits = {q for op in ops for q in op.qubits}
    if ops and isinstance(ops[-1], Measure) and set(ops[-1].qubits) >= qubits:
        qubits = {q for op in ops[:-1] for q in op.qubits}
    return tuple(sorted(qubits))


def _from_layout(routing: sabre.RoutingResult, layout: list[int]) -> sabre.RoutingResult:
    """``routing`` (from a layout that agrees with ``layout`` on ``_routed_qubits``) started
    from ``layout``: the same events, the final layout replayed from it."""
    if list(routing.initial_layout) == list(layout):
        return routing
    n = routing.num_qubits
    l2p = list(layout)
    p2l = {p: q for q, p in enumerate(l2p)}
    for e in routing.events.tolist():
        if e < 0:
            u, v = divmod(-e - 1, n)
            lu, lv = p2l.pop(u, None), p2l.pop(v, None)
            if lu is not None:
                l2p[lu], p2l[v] = v, lu
            if lv is not None:
                l2p[lv], p2l[u] = u, lv
    return replace(routing, initial_layout=list(layout), final_layout=l2p)


def run(circuit: Circuit, ctx: PassContext) -> Circuit:
    if not applicable(circuit):
        return circuit
    target = ctx.target
    n = len(next(s for s in circuit.segments if s.name == "encode").ops[0].qubits)
    # distinct region shapes synthesized and routed; a 10-qubit tree costs seconds of search per
    # shape, so large registers try at most two
    limit = max(1, ctx.options.get("placements", 1))
    if n >= LARGE_TREE:
        limit = min(limit, 2)
    placements = candidate_placements(target, n, limit)
    if not placements:
        raise SynthesisUnavailable(f"no two disjoint connected regions of {n} qubits on {target.name}")
    rest = sabre.FlatCircuit(_rest(circuit, ctx))
    routings: dict = {}
    results = []
    for p in placements:
        for i, candidate in enumerate(synthesize(circuit, ctx, p, rest, routings)):
            results.append((candidate.cost, p.regions, i, candidate))
    _, regions, _, winner = min(results, key=lambda r: r[:3])
    for _, _, _, key in winner.trees:
        _checked(*key)  # every walk the circuit is built from is replayed first
    physical = winner.physical(circuit, target)
    props = ctx.properties
    props["layout"], props["final_layout"] = winner.layout, winner.best.final_layout
    props["swaps"] = sum(g.name == "swap" for g in physical.gates())
    props["synthesis"] = {"regions": [list(r) for r in regions], "placements_tried": len(results)}
    return physical
