"""SABRE-class routing (Li et al. 2019, with LightSABRE's release valve), noise-aware.

Gates of a segment form a DAG; the front layer holds gates whose predecessors are done. Every
executable front gate is emitted at once; when none is, each SWAP on a coupler touching a front
qubit is scored by the distance it leaves the front layer (plus a weighted look-ahead over the
next gates), times a decay factor that discourages reusing the same qubits, plus the SWAP's own
error cost. Distances are shortest paths with the Target's coupler costs -log(1 - e) normalised
to a mean of 1 (``Target.coupling``), so routes prefer good couplers. If no front gate executes
after many SWAPs (livelock), the release valve walks the closest front gate to adjacency along
its shortest path.

Correctness is the same argument as for the greedy router: every SWAP updates the layout, every
gate is emitted on the physical qubits holding its logical qubits, DAG order is kept per qubit.
Segments are routed in order with the layout carried over, so SWAPs never cross a boundary.
Several seeded trials run and the pass keeps the best (``select``: fewest error-weighted two-qubit
gates once SWAPs are expanded and merged).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from hqvit.ir.circuit import Circuit, Gate, Measure, Segment
from hqvit.passes import two_qubit_cost
from hqvit.passes.base import PassContext
from hqvit.passes.cancel import X_TYPE, Z_TYPE, cancel_and_merge
from hqvit.passes.expand_swaps import expand_swaps
from hqvit.passes.route import apply_swap
from hqvit.passes.sabre_kernel import KIND_CX, KIND_OTHER, KIND_X, KIND_Z, MT_N, mt_primed, mt_seeded, route_trials
from hqvit.targets import Target
from hqvit.targets.coupling import CouplingData

EXTENDED_SIZE = 20
EXTENDED_WEIGHT = 0.5
DECAY_STEP = 0.001
DECAY_RESET = 5
SWAP_ERROR_WEIGHT = 0.2


def _kind(op) -> int:
    if not isinstance(op, Gate):
        return KIND_OTHER
    if op.name == "cx":
        return KIND_CX
    if op.name in Z_TYPE:
        return KIND_Z
    if op.name in X_TYPE:
        return KIND_X
    return KIND_OTHER


class FlatCircuit:
    """A circuit as flat arrays for the kernel, built once and shared by every trial: each op's
    logical qubits (CSR), whether it needs a coupler (two-qubit gate), whether it is a CNOT
    or a gate that commutes with a CNOT's control or target
    (for the SWAP-merge count) and the segment boundaries."""

    def __init__(self, circuit: Circuit):
        ops = [op for seg in circuit.segments for op in seg.ops]
        self.circuit = circuit
        self.ops = ops
        self.op_ptr = np.cumsum([0] + [len(op.qubits) for op in ops], dtype=np.int64)
        self.op_q = np.array([q for op in ops for q in op.qubits], dtype=np.int64)
        self.op_two = np.array([isinstance(op, Gate) and len(op.qubits) == 2 for op in ops], dtype=np.bool_)
        self.op_kind = np.array([_kind(op) for op in ops], dtype=np.int64)
        self.seg_ptr = np.cumsum([0] + [len(seg.ops) for seg in circuit.segments], dtype=np.int64)
        self.two_qubit_ops = int(self.op_two.sum())

    @cached_property
    def cost_rows(self):
        """Table ids and angle rows for ``two_qubit_cost`` (None: an op it cannot take)."""
        return two_qubit_cost.flat_rows(self)


@dataclass
class RoutingResult:
    flat: FlatCircuit
    events: np.ndarray
    initial_layout: list[int]
    final_layout: list[int]
    swaps: int
    swap_cost: float
    merged_swaps: int  # SWAPs next to a CNOT on their pair: 2 CNOTs for both once expanded
    num_qubits: int
    exact: tuple[float, int] | None = None  # exact_cost, once computed

    @property
    def two_qubit_estimate(self) -> int:
        """Two-qubit gates once SWAPs are expanded to 3 CNOTs and merged with adjacent CNOTs."""
        return self.flat.two_qubit_ops + 3 * self.swaps - 2 * self.merged_swaps

    @cached_property
    def circuit(self) -> Circuit:
        """Replay the events: ops on the current layout, SWAPs updating it, per segment."""
        flat, n = self.flat, self.num_qubits
        l2p = list(self.initial_layout)
        p2l = {p: q for q, p in enumerate(l2p)}
        seg_of = np.searchsorted(flat.seg_ptr, np.arange(len(flat.ops)), side="right") - 1
        segments: list[list] = [[] for _ in flat.circuit.segments]
        pending: list[tuple[int, int]] = []  # SWAPs go into the segment of the op they prepare
        for e in self.events.tolist():
            if e < 0:
                pending.append(divmod(-e - 1, n))
                continue
            out = segments[int(seg_of[e])]
            for u, v in pending:
                apply_swap(u, v, l2p, p2l, out)
            pending.clear()
            op = flat.ops[e]
            qs = tuple(l2p[q] for q in op.qubits)
            out.append(Measure(qs) if isinstance(op, Measure) else op.on(qs))
        assert l2p == list(self.final_layout)
        segs = [Segment(s.name, ops) for s, ops in zip(flat.circuit.segments, segments, strict=True)]
        return Circuit(n, segs, dict(flat.circuit.symbols), {})


NO_STATES = np.empty((0, MT_N + 1), np.int64)
NO_STATES.flags.writeable = False  # read-only like ``seeded_states``: one compiled route_trials for both


@functools.lru_cache(maxsize=16)
def seeded_states(seeds: tuple[int, ...]) -> np.ndarray:
    """The random state of each seed's trial, ready to draw (``sabre_kernel.mt_primed``): the
    synthesis pass routes from many layouts with the same seeds, and seeding a trial costs
    about a third of a short routing. Read-only (shared)."""
    states = np.array([mt_primed(mt_seeded(s % (2**32))) for s in seeds], np.int64).reshape(-1, MT_N + 1)
    states.flags.writeable = False
    return states


def _trial_arrays(
    flat: FlatCircuit,
    cd: CouplingData,
    num_qubits: int,
    layout: list[int],
    seeds: list[int],
    states: np.ndarray = NO_STATES,
):
    """One SABRE run per seed from ``layout``, all in one compiled call (``route_trials``): the
    kernel's arrays (events, their offsets, final layouts, SWAPs, SWAP cost, merged SWAPs).
    ``states``: ``seeded_states(seeds)``, or empty (the kernel seeds)."""
    return route_trials(
        flat.op_ptr,
        flat.op_q,
        flat.op_two,
        flat.op_kind,
        flat.seg_ptr,
        np.asarray(layout, dtype=np.int64),
        num_qubits,
        cd.nb_ptr,
        cd.nb,
        cd.dist,
        cd.hops,
        cd.cost_matrix,
        cd.coupled,
        np.array([s % (2**32) for s in seeds], dtype=np.int64),
        states,
        EXTENDED_SIZE,
        EXTENDED_WEIGHT,
        DECAY_STEP,
        DECAY_RESET,
        SWAP_ERROR_WEIGHT,
    )


def _result(flat: FlatCircuit, arrays, t: int, layout: list[int], num_qubits: int) -> RoutingResult:
    """Trial ``t`` of ``_trial_arrays``'s output."""
    events, ev_ptr, l2p, swaps, cost, merged = arrays
    return RoutingResult(
        flat,
        events[ev_ptr[t] : ev_ptr[t + 1]],
        list(layout),
        l2p[t].tolist(),
        int(swaps[t]),
        float(cost[t]),
        int(merged[t]),
        num_qubits,
    )


def _route_seeds(
    circuit: Circuit | FlatCircuit, cd: CouplingData, num_qubits: int, layout: list[int], seeds: list[int]
) -> list[RoutingResult]:
    """One SABRE run per seed from ``layout`` (``_trial_arrays``), as results."""
    flat = circuit if isinstance(circuit, FlatCircuit) else FlatCircuit(circuit)
    arrays = _trial_arrays(flat, cd, num_qubits, layout, seeds)
    return [_result(flat, arrays, t, layout, num_qubits) for t in range(len(seeds))]


def sabre_route_once(
    circuit: Circuit | FlatCircuit, cd: CouplingData, num_qubits: int, layout: list[int], seed: int
) -> RoutingResult:
    return _route_seeds(circuit, cd, num_qubits, layout, [seed])[0]


def sabre_route(
    circuit: Circuit | FlatCircuit,
    target: Target,
    layout: list[int],
    trials: int = 4,
    seed: int = 0,
    cd: CouplingData | None = None,
) -> list[RoutingResult]:
    """``trials`` seeded SABRE runs from the same initial layout (the caller picks the best)."""
    seeds = [seed * 1000 + t for t in range(trials)]
    return _route_seeds(circuit, cd or target.coupling, target.num_qubits, layout, seeds)


def estimated_cost(result: RoutingResult) -> tuple[int, float]:
    """The router's own count of two-qubit gates after SWAP expansion and merging, then SWAP error."""
    return result.two_qubit_estimate, result.swap_cost


def exact_cost(result: RoutingResult, cd: CouplingData) -> tuple[float, int]:
    """Two-qubit gates left once SWAPs are expanded and cancellation has run, each weighted by its
    coupler's error cost -log(1 - e) / mean (so on uniform targets this is the count), then the
    count. Slower than the estimate; computed once per routing, in compiled code from the
    routing's events (``two_qubit_cost``) when every op is one it takes."""
    if result.exact is None:
        rows = result.flat.cost_rows
        if rows is None:
            result.exact = exact_cost_reference(result.circuit, cd)
        else:
            physical = two_qubit_cost.routing_rows(
                result.flat, rows, result.events, result.initial_layout, result.num_qubits
            )
            result.exact = two_qubit_cost.cost_of_rows(physical, result.num_qubits, cd.cost_matrix)
    return result.exact


def exact_cost_of(circuit: Circuit, cd: CouplingData) -> tuple[float, int]:
    """``exact_cost`` of a physical circuit (compiled, like ``exact_cost``; equal to
    ``exact_cost_reference``)."""
    rows = two_qubit_cost.circuit_rows(circuit)
    if rows is None:
        return exact_cost_reference(circuit, cd)
    return two_qubit_cost.cost_of_rows(rows, circuit.num_qubits, cd.cost_matrix)


def exact_cost_reference(circuit: Circuit, cd: CouplingData) -> tuple[float, int]:
    """The definition: expand SWAPs, run the cancellation pass, weight what is left."""
    gates = [g for g in cancel_and_merge(expand_swaps(circuit)).gates() if len(g.qubits) == 2]
    weighted = sum(cd.cost_matrix[g.qubits[0], g.qubits[1]] for g in gates)
    return round(float(weighted), 9), len(gates)


EXACT_RESCORE = 8  # routings rescored exactly, among the best by the router's estimate


def select(results: list[RoutingResult], cd: CouplingData) -> RoutingResult:
    """The best routing: shortlist by the cheap estimate, decide by the exact error-weighted count
    (cancellation commutes CNOTs through each other, which the estimate does not follow)."""
    return _best_exact(sorted(results, key=estimated_cost)[:EXACT_RESCORE], cd)


def sabre_route_best(
    flat: FlatCircuit, target: Target, layout: list[int], trials: int, seed: int, cd: CouplingData
) -> RoutingResult:
    """``select(sabre_route(flat, target, layout, trials, seed, cd), cd)``, building only the
    shortlisted trials: the shortlist is the same stable sort by the same key
    (``estimated_cost``: the estimate and the SWAP cost, read from the kernel's arrays as the
    results would hold them), so it names the same trials in the same order."""
    seeds = [seed * 1000 + t for t in range(trials)]
    arrays = _trial_arrays(flat, cd, target.num_qubits, layout, seeds, seeded_states(tuple(seeds)))
    order = _shortlist(flat, arrays)
    return _best_exact([_result(flat, arrays, t, layout, target.num_qubits) for t in order], cd)


def _shortlist(flat: FlatCircuit, arrays) -> list[int]:
    """The trials ``select`` shortlists, in its order, from ``_trial_arrays``'s output: by
    estimate, then SWAP cost, then trial (``np.lexsort`` is stable, like ``sorted``)."""
    _, _, _, swaps, cost, merged = arrays
    estimate = flat.two_qubit_ops + 3 * swaps - 2 * merged
    return np.lexsort((cost, estimate))[:EXACT_RESCORE].tolist()


def _best_exact(shortlist: list[RoutingResult], cd: CouplingData) -> RoutingResult:
    """The shortlisted routing with the least ``exact_cost`` (the first of equals)."""
    # seeded trials often find the same routing: each distinct one is built and rescored once
    # (the first of equals is kept, as min over the whole shortlist would)
    seen: set[tuple[bytes, tuple[int, ...]]] = set()
    distinct = []
    for r in shortlist:
        key = (r.events.tobytes(), tuple(r.initial_layout))
        if key not in seen:
            seen.add(key)
            distinct.append(r)
    return min(distinct, key=lambda r: exact_cost(r, cd))


def run(circuit: Circuit, ctx: PassContext) -> Circuit:
    """Route from ``layout`` with the preset's seeded trials; the best of those and of the layout
    search's routings (``routings``) wins. Writes the layouts it chose and the SWAP count."""
    p = ctx.properties
    trials = sabre_route(circuit, ctx.target, p["layout"], ctx.options["trials"], ctx.seed, ctx.coupling)
    best = select(p.get("routings", []) + trials, ctx.coupling)
    p["layout"], p["final_layout"] = best.initial_layout, best.final_layout
    p["swaps"] = sum(g.name == "swap" for g in best.circuit.gates())
    return best.circuit
