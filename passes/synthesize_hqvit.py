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
compiled circuit binds per image. The pass leaves a circuit without an ``AmplitudeEncode``
unchanged (the generic path then routes it), and so the ``--qasm`` input always takes that path.
"""

from __future__ import annotations

import functools

from hqvit.ir.angles import Angle
from hqvit.ir.circuit import AmplitudeEncode, Circuit, Gate, Segment
from hqvit.passes import cancel, consolidate, expand_three_qubit, lower, sabre
from hqvit.passes.base import PassContext
from hqvit.passes.parity_walk import TreeWalk, walk_tree
from hqvit.passes.register_placement import Placement, candidate_placements, feature_arrangement

REST_TRIALS = 64


def applicable(circuit: Circuit) -> bool:
    """An encode segment of amplitude encodings of disjoint registers, nothing else in it."""
    seg = next((s for s in circuit.segments if s.name == "encode"), None)
    return seg is not None and bool(seg.ops) and all(isinstance(op, AmplitudeEncode) for op in seg.ops)


@functools.lru_cache(maxsize=64)
def _walk(shape: tuple[tuple[int, int], ...], n: int, seed: int, desired: tuple[tuple[int, int], ...]) -> TreeWalk:
    """Walks depend only on the region's couplers in level labels and where the features should
    end: cached across placements, copies and compiles."""
    return walk_tree(n, list(shape), list(range(n)), seed, dict(desired))


def _encode_gates(op: AmplitudeEncode, region: tuple[int, ...], walk: TreeWalk) -> tuple[list[Gate], dict[int, int]]:
    """Physical gates of one tree and where each of its logical qubits ends."""
    gates = []
    for w in walk.ops:
        if w.kind == "cx":
            gates.append(Gate("cx", (region[w.a], region[w.b])))
        else:
            gates.append(Gate("ry", (region[w.a],), (Angle.symbol(f"{op.prefix}{w.level}_{w.step}"),)))
    end = {op.qubits[var]: region[wire] for wire, var in enumerate(walk.final_variable)}
    return gates, end


def _rest(circuit: Circuit, ctx: PassContext) -> Circuit:
    """The non-encode segments lowered and cleaned like the generic path does before routing."""
    rest = circuit.with_segments([s for s in circuit.segments if s.name != "encode"])
    rest = expand_three_qubit.run(lower.run(rest, ctx), ctx)
    if ctx.options.get("cancel"):
        rest = consolidate.run(cancel.run(rest, ctx), ctx)
    return rest


def synthesize(circuit: Circuit, ctx: PassContext, placement: Placement) -> tuple[Circuit, list[int], object]:
    """One placement: the physical circuit, the initial layout and the winning routing."""
    target = ctx.target
    encodes = next(s for s in circuit.segments if s.name == "encode").ops
    gates: list[Gate] = []
    start: dict[int, int] = {}
    after: dict[int, int] = {}
    n_features = len(circuit.registers.get("feature1", ()))
    n = len(encodes[0].qubits)
    desired = feature_arrangement(target, placement, list(range(n - n_features, n))) if n_features else ({}, {})
    for copy, op in enumerate(encodes):
        region = placement.regions[copy]
        walk = _walk(placement.shape(copy, target), len(op.qubits), ctx.seed, tuple(sorted(desired[copy].items())))
        copy_gates, end = _encode_gates(op, region, walk)
        gates += copy_gates
        start.update({q: region[j] for j, q in enumerate(op.qubits)})
        after.update(end)
    # qubits outside the trees (the CSWAP ancilla) go to the free qubit nearest the feature pairs
    used = set(start.values())
    dist = target.error_distances
    for q in range(circuit.num_qubits):
        if q not in start:
            free = [p for p in target.usable_qubits if p not in used]
            p = min(free, key=lambda p: (sum(dist[p, x] for x in after.values()), p))
            start[q] = after[q] = p
            used.add(p)
    rest = _rest(circuit, ctx)
    layout_after = [after[q] for q in range(circuit.num_qubits)]
    # the rest is small: many seeded trials cost little next to the walks
    trials = sabre.sabre_route(rest, target, layout_after, REST_TRIALS, ctx.seed, ctx.coupling)
    best = sabre.select(trials, ctx.coupling)
    segments = [Segment("encode", gates)] + list(best.circuit.segments)
    physical = Circuit(target.num_qubits, segments, dict(circuit.symbols), {})
    return physical, [start[q] for q in range(circuit.num_qubits)], best


def run(circuit: Circuit, ctx: PassContext) -> Circuit:
    if not applicable(circuit):
        return circuit
    target = ctx.target
    n = len(next(s for s in circuit.segments if s.name == "encode").ops[0].qubits)
    limit = max(1, ctx.options.get("placements", 1))  # distinct region shapes synthesized and routed
    placements = candidate_placements(target, n, limit)
    if not placements:
        raise ValueError(f"no two disjoint connected regions of {n} qubits on {target.name}")
    results = []
    for p in placements:
        physical, layout, best = synthesize(circuit, ctx, p)
        results.append((sabre.exact_cost_of(physical, ctx.coupling), p.regions, physical, layout, best))
    _, regions, physical, layout, best = min(results, key=lambda r: (r[0], r[1]))
    props = ctx.properties
    props["layout"], props["final_layout"] = layout, best.final_layout
    props["swaps"] = sum(g.name == "swap" for g in physical.gates())
    props["synthesis"] = {"regions": [list(r) for r in regions], "placements_tried": len(results)}
    return physical
