"""Shortcuts of the rest routing the synthesis path repeats for every candidate placement
(passes/sabre_kernel.py, passes/sabre.py): each against the plain computation it replaces."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from numba import njit

from hqvit.compiler.hqvit import HQViTConfig, build_attention_circuit
from hqvit.ir.circuit import Circuit, Gate, Measure, Segment
from hqvit.passes import sabre, sabre_kernel, synthesize_hqvit
from hqvit.passes.base import PassContext
from hqvit.targets import resolve_target

TARGETS = ["grid:4x4", "heavy-hex:5", "line:13", "ibm-torino", "ibm-sherbrooke", "two-valued grid"]


def _target(name: str):
    """A named target, or a 4x4 grid whose couplers have one of two errors: SWAP choices tie
    often, as on a uniform grid, and tied trials differ in SWAP cost, as on a calibrated device."""
    if name != "two-valued grid":
        return resolve_target(name)
    grid = resolve_target("grid:4x4")
    couplers = {e: (5e-3 if (e[0] + e[1]) % 3 else 1e-2) for e in sorted(grid.couplers)}
    return replace(grid, name=name, couplers=couplers)


def _rest(target) -> sabre.FlatCircuit:
    """The digits cell's ansatz and swap test, lowered and cancelled as the synthesis pass routes it."""
    ctx = PassContext(target, device=target, seed=0, options={"cancel": True})
    return sabre.FlatCircuit(synthesize_hqvit._rest(build_attention_circuit(HQViTConfig((8, 8), (4, 4))), ctx))


def _random_flat(rng: np.random.Generator, n: int, ops: int) -> sabre.FlatCircuit:
    """Random CNOTs, rotations and CZs in three segments, then a measurement of every qubit."""
    segments = []
    for name in ("a", "b", "c"):
        gates = []
        for _ in range(ops):
            a, b = (int(q) for q in rng.choice(n, 2, replace=False))
            kind = rng.integers(4)
            gates.append(Gate("cx", (a, b)) if kind < 2 else Gate("cz", (a, b)) if kind == 2 else Gate("h", (a,)))
        segments.append(Segment(name, gates))
    segments.append(Segment("m", [Measure(tuple(range(n)))]))
    return sabre.FlatCircuit(Circuit(n, segments, {}, {}))


def _layout(rng: np.random.Generator, target, n: int) -> list[int]:
    return [int(q) for q in rng.permutation(sorted(target.usable_qubits))[:n]]


def _cases():
    """(target, flat circuit, start layout): the rest and random circuits from random layouts."""
    rng = np.random.default_rng(11)
    for name in TARGETS:
        t = _target(name)
        rest = _rest(t)
        for _ in range(3):
            yield t, rest, _layout(rng, t, rest.circuit.num_qubits)
        flat = _random_flat(rng, 7, 12)
        yield t, flat, _layout(rng, t, 7)


def _arrays_one_call_per_seed(flat, target, layout, seeds):
    """``route_trials`` with one seed per call: nothing shared between trials."""
    parts = [sabre._trial_arrays(flat, target.coupling, target.num_qubits, layout, [s]) for s in seeds]
    events = np.concatenate([p[0] for p in parts])
    ptr = np.cumsum([0] + [len(p[0]) for p in parts])
    rest = [np.concatenate([p[k] for p in parts]) for k in range(2, 6)]
    return [events, ptr, *rest]


def test_trials_of_one_call_equal_trials_run_alone():
    """One call runs its trials as a tree (a group shares its run until its members' draws at a
    tie differ) with one DAG and stamp scratch: every array equals the trials' own, one call
    per seed (a one-member group is the plain loop), seeded in the kernel or from cached states."""
    for t, flat, layout in _cases():
        seeds = list(range(1000, 1024))
        alone = _arrays_one_call_per_seed(flat, t, layout, seeds)
        for states in (sabre.NO_STATES, sabre.seeded_states(tuple(seeds))):
            together = sabre._trial_arrays(flat, t.coupling, t.num_qubits, layout, seeds, states)
            for a, b in zip(together, alone, strict=True):
                assert np.array_equal(a, b)


def test_every_trial_splits_off_or_is_shared_as_it_should():
    """The comparison above covers both: on calibrated IBM couplers the rest's trials never tie
    (one group all along, every trial the same routing), on a uniform grid they split."""
    rng = np.random.default_rng(3)
    for name, distinct in (("ibm-torino", 1), ("grid:4x4", None)):
        t = resolve_target(name)
        rest = _rest(t)
        layout = _layout(rng, t, rest.circuit.num_qubits)
        events, ptr, *_ = sabre._trial_arrays(rest, t.coupling, t.num_qubits, layout, list(range(16)))
        found = len({events[ptr[k] : ptr[k + 1]].tobytes() for k in range(16)})
        assert found == distinct if distinct else found > 1


@njit
def _numba_draws(seed: int, ranges: np.ndarray) -> np.ndarray:
    np.random.seed(seed)
    out = np.empty(len(ranges), np.int64)
    for k in range(len(ranges)):
        out[k] = np.random.randint(0, ranges[k])
    return out


@njit
def _own_draws(state: np.ndarray, ranges: np.ndarray) -> np.ndarray:
    out = np.empty(len(ranges), np.int64)
    for k in range(len(ranges)):
        out[k] = sabre_kernel.mt_randint(state, ranges[k])
    return out


def test_random_draws_are_numbas():
    """``mt_*`` reproduce numba's ``np.random.seed`` / ``randint(0, n)`` stream, seeded in the
    kernel or primed and cached, over ranges of one (no draw) up to beyond a regeneration."""
    rng = np.random.default_rng(1)
    for seed in [0, 1, 999, 1063, 2**31 + 5, 2**32 - 1, *rng.integers(0, 2**32, 20).tolist()]:
        ranges = rng.integers(1, 600, 1500)
        ranges[rng.random(1500) < 0.3] = 1
        expected = _numba_draws(seed, ranges)
        assert np.array_equal(_own_draws(sabre_kernel.mt_seeded(seed), ranges), expected)
        primed = sabre_kernel.mt_primed(sabre_kernel.mt_seeded(seed))
        assert np.array_equal(_own_draws(primed, ranges), expected)
        assert np.array_equal(_own_draws(sabre.seeded_states((seed,))[0].copy(), ranges), expected)


def _dag_reference(flat: sabre.FlatCircuit):
    """Per segment: an op's predecessors are the last earlier op on each of its qubits
    (distinct ones counted once); successors listed in the order ops and their qubits are scanned."""
    n_ops = len(flat.ops)
    indeg = [0] * n_ops
    succ: list[list[int]] = [[] for _ in range(n_ops)]
    for s in range(len(flat.seg_ptr) - 1):
        last: dict[int, int] = {}
        for i in range(int(flat.seg_ptr[s]), int(flat.seg_ptr[s + 1])):
            preds = []
            for q in flat.ops[i].qubits:
                if q in last and last[q] not in preds:
                    preds.append(last[q])
            indeg[i] = len(preds)
            for p in preds:
                succ[p].append(i)
            for q in flat.ops[i].qubits:
                last[q] = i
    return indeg, succ


def test_dag_matches_its_definition():
    for _, flat, layout in _cases():
        indeg, succ, starts = sabre_kernel.build_dag(flat.op_ptr, flat.op_q, flat.seg_ptr, len(layout))
        ref_indeg, ref_succ = _dag_reference(flat)
        assert indeg.tolist() == ref_indeg
        assert [succ[starts[i] : starts[i + 1]].tolist() for i in range(len(ref_succ))] == ref_succ


@pytest.mark.parametrize("trials", [1, 8, 64])
def test_best_routing_equals_select_over_all_trials(trials):
    """``sabre_route_best`` (only the shortlist built) picks what ``select`` picks from every trial."""
    for t, flat, layout in _cases():
        for seed in (0, 3):
            fast = sabre.sabre_route_best(flat, t, layout, trials, seed, t.coupling)
            slow = sabre.select(sabre.sabre_route(flat, t, layout, trials, seed, t.coupling), t.coupling)
            assert np.array_equal(fast.events, slow.events)
            assert fast.final_layout == slow.final_layout and fast.initial_layout == slow.initial_layout
            assert (fast.swaps, fast.swap_cost, fast.merged_swaps) == (slow.swaps, slow.swap_cost, slow.merged_swaps)
            assert sabre.exact_cost(fast, t.coupling) == sabre.exact_cost(slow, t.coupling)


def test_shortlist_names_the_trials_select_shortlists():
    """The shortlist read from the kernel's arrays is ``select``'s, trial for trial, in order."""
    for t, flat, layout in _cases():
        seeds = [1000 + k for k in range(64)]
        arrays = sabre._trial_arrays(flat, t.coupling, t.num_qubits, layout, seeds)
        results = [sabre._result(flat, arrays, k, layout, t.num_qubits) for k in range(len(seeds))]
        index = {id(r): k for k, r in enumerate(results)}
        expected = [index[id(r)] for r in sorted(results, key=sabre.estimated_cost)[: sabre.EXACT_RESCORE]]
        assert sabre._shortlist(flat, arrays) == expected


def _grow_region_reference(adj, seed, size, blocked, cost):
    """``register_placement.grow_region`` as first written: the frontier rescanned every step."""
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


@pytest.mark.parametrize("name", ["grid:5x5", "heavy-hex:5", "line:13", "ibm-torino", "two-valued grid"])
def test_grown_regions_and_tree_orders_match_their_definitions(name):
    """Regions grown with the kept frontier equal the rescanning definition from every seed,
    free and next to a blocked region; tree orders through a shared memo (regions met again in
    another order, toward other partners) equal fresh ones and the networkx definition."""
    from hqvit.passes.register_placement import _adjacency, grow_region, placement_costs, tree_order
    from tests.compiler.test_synthesis import _tree_order_reference

    t = _target(name)
    adj = _adjacency(t)
    rng = np.random.default_rng(2)
    memo: dict = {}
    for size in (4, 6, 9):
        cost = placement_costs(t, size)
        for seed in sorted(adj):
            a = grow_region(adj, seed, size, set(), cost)
            assert a == _grow_region_reference(adj, seed, size, set(), cost)
            if a is None:
                continue
            border = sorted({v for u in a for v in adj[u] if v not in a})
            b = grow_region(adj, border[0], size, set(a), cost) if border else None
            assert b == _grow_region_reference(adj, border[0], size, set(a), cost) if border else True
            toward = set(b) if b else None
            shuffled = [int(q) for q in rng.permutation(a)]
            expected = _tree_order_reference(list(a), t, toward)
            assert tree_order(shuffled, t, toward, memo) == expected
            assert tree_order(list(a), t, toward, memo) == expected == tree_order(list(a), t, toward)
            assert tree_order(list(a), t, None, memo) == _tree_order_reference(list(a), t, None)


def _placements_reference(target, copy_qubits, limit, seeds=48):
    """``register_placement.candidate_placements`` as first written: every pair ordered and shaped."""
    from hqvit.passes.register_placement import (
        Placement,
        _adjacency,
        _inside,
        _shape,
        _views,
        grow_region,
        placement_costs,
        tree_order,
    )

    adj = _adjacency(target)
    full = _views(target).full
    cost = placement_costs(target, copy_qubits)
    mean_edge = np.mean(list(target.coupler_costs.values())) if target.couplers else 1.0
    found: dict = {}
    for seed in sorted(adj, key=lambda q: (-len(adj[q]), cost[q], q))[:seeds]:
        a = grow_region(adj, seed, copy_qubits, set(), cost)
        if a is None:
            continue
        sa = set(a)
        border = sorted(
            {v for u in a for v in adj[u] if v not in sa}, key=lambda v: (-sum(u in sa for u in adj[v]), cost[v], v)
        )
        for b_seed in border[:3]:
            b = grow_region(adj, b_seed, copy_qubits, sa, cost)
            if b is None:
                continue
            sb = set(b)
            inner = _inside(a, target) + _inside(b, target)
            cross = sum(1 for x in a for y in full[x] if y in sb)
            error = sum(target.coupler_costs[e] for e in inner) / (mean_edge * max(len(inner), 1))
            score = -10.0 * len(inner) - 2.0 * cross + 5.0 * error + float(cost[a].sum() + cost[b].sum())
            regions = (tree_order(a, target, sb), tree_order(b, target, sa))
            key = (_shape(regions[0], target), _shape(regions[1], target))
            if key not in found or found[key].score > score:
                found[key] = Placement(regions, score)
    return sorted(found.values(), key=lambda p: (p.score, p.regions))[:limit]


@pytest.mark.parametrize("name", ["grid:4x4", "grid:5x5", "heavy-hex:5", "line:13", "ibm-torino", "two-valued grid"])
def test_placements_skipping_hopeless_pairs_equal_the_full_search(name):
    """Pairs scoring above the limit-th best kept score are skipped unshaped: the placements equal
    the search that orders and shapes every pair, for every limit, with many and few seeds, on
    the calibrated targets and their noise-blind copies (equal scores everywhere)."""
    from hqvit.passes.register_placement import candidate_placements
    from hqvit.targets.target import noise_blind

    for t in (_target(name), noise_blind(_target(name))):
        for n in (4, 6, 8):
            for seeds in (48, 7):
                for limit in (0, 1, 2, 3, 4, 8):
                    assert candidate_placements(t, n, limit, seeds) == _placements_reference(t, n, limit, seeds)
