"""The HQViT synthesis path (passes/synthesize_hqvit.py) in the pipeline: chosen for HQViT circuits
on coupled devices, equivalent to the logical circuit up to its layouts, cheaper than routing the
Gray-code circuit, and reproducing the closed-form attention on qsim."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from hqvit.compiler.hqvit import HQViTConfig, build_attention_circuit
from hqvit.compiler.pipeline import CompiledCircuit, _compile, compile_circuit, compile_hqvit
from hqvit.compiler.qasm import from_qasm2, to_qasm2
from hqvit.ir.circuit import without_measurements
from hqvit.passes import synthesize_hqvit
from hqvit.passes.lower import lower
from hqvit.runtime.bindings import random_bindings
from hqvit.targets import resolve_target
from tests.helpers import assert_equivalent

DIGITS = HQViTConfig((8, 8), (4, 4))
DIGITS_FEATURES = (2, 3, 4, 5, 8, 9, 10, 11)  # feature1 and feature2


@functools.cache
def _compiled(target: str, opt: int, swap_test: str = "bell", path: str | None = None) -> CompiledCircuit:
    cfg = HQViTConfig((8, 8), (4, 4), swap_test=swap_test)
    if path is None:
        return compile_hqvit(cfg, resolve_target(target), opt=opt)
    return _compile(build_attention_circuit(cfg), resolve_target(target), cfg, opt, 0, True, path)


def _first_pass(c: CompiledCircuit) -> str:
    record = c.passes[0]
    while record.children:
        record = record.children[0]
    return record.name


@pytest.mark.parametrize(("target", "opt"), [("grid:4x4", 1), ("line:13", 2), ("heavy-hex:5", 2), ("ibm-torino", 1)])
def test_synthesis_is_equivalent_up_to_layouts(target, opt):
    c = _compiled(target, opt)
    assert _first_pass(c) == "synthesize_hqvit"
    assert_equivalent(c, atol=1e-5, trials=2)
    t = resolve_target(target)
    used = {q for g in c.circuit.gates() for q in g.qubits}
    assert not used & set(t.disabled_qubits)
    assert all(t.coupled(*g.qubits) for g in c.circuit.gates() if len(g.qubits) == 2)


@pytest.mark.parametrize("target", ["grid:4x4", "line:13", "heavy-hex:5"])
def test_synthesis_beats_routing_the_gray_code_circuit(target):
    synth = _compiled(target, 2, path="synthesis").report()["two_qubit_gates"]
    generic = _compiled(target, 2, path="generic").report()["two_qubit_gates"]
    assert synth < 0.9 * generic, (synth, generic)


def test_cswap_ancilla_is_placed_and_verified():
    c = _compiled("grid:4x4", 1, swap_test="cswap")
    assert _first_pass(c) == "synthesize_hqvit"
    assert_equivalent(c, atol=1e-5, trials=1)


def test_opt3_keeps_the_better_path_and_records_both():
    c = compile_hqvit(DIGITS, resolve_target("grid:4x4"), opt=3)
    (record,) = c.passes
    assert record.name == "select_by_two_qubit_cost"
    labels = [child.name for child in record.children]
    assert any(lb.startswith("synthesis") for lb in labels) and any(lb.startswith("generic") for lb in labels)
    assert c.report()["two_qubit_gates"] == min(child.two_qubit_gates for child in record.children)


def test_qasm_input_takes_the_generic_path():
    logical = without_measurements(lower(build_attention_circuit(DIGITS)))
    text = to_qasm2(logical, random_bindings(logical, DIGITS, "random:0"))
    circuit = from_qasm2(text)
    assert not synthesize_hqvit.applicable(circuit)
    c = compile_circuit(circuit, resolve_target("grid:4x4"), opt=1)
    assert _first_pass(c) != "synthesize_hqvit"


def test_a_device_without_room_for_two_regions_falls_back_to_routing():
    """A star: every connected set of two or more qubits holds the centre, so the copies cannot
    be placed as units; the generic path routes through the centre instead."""
    import dataclasses

    base = resolve_target("line:13")
    star = dataclasses.replace(base, name="star13", couplers={(0, q): 0.01 for q in range(1, 13)})
    c = compile_hqvit(DIGITS, star, opt=2)
    assert _first_pass(c) == "lower"
    assert_equivalent(c, atol=1e-5, trials=1)


def test_same_seed_same_circuit():
    a = compile_hqvit(DIGITS, resolve_target("heavy-hex:5"), opt=2, seed=3)
    b = compile_hqvit(DIGITS, resolve_target("heavy-hex:5"), opt=2, seed=3)
    assert [seg.ops for seg in a.circuit.segments] == [seg.ops for seg in b.circuit.segments]
    assert a.initial_layout == b.initial_layout and a.final_layout == b.final_layout


@pytest.mark.parametrize("target", ["line:13", "grid:4x4"])
def test_qsim_reproduces_the_closed_form_attention(target):
    from hqvit.runtime.encoding import tokens_from_images
    from hqvit.runtime.exact import exact_attention
    from hqvit.runtime.quantum_attention import QsimAttention, qsim_attention

    rng = np.random.default_rng(0)
    images = torch.as_tensor(rng.uniform(0, 1, (3, 8, 8)))
    images[0, :4, :4] = 0  # an all-zero patch: a masked token
    tokens = tokens_from_images(images, DIGITS)
    params = torch.as_tensor(rng.uniform(-np.pi, np.pi, (1, len(DIGITS.trainable_symbols()))))
    backend = QsimAttention(DIGITS, _compiled(target, 2))
    with torch.no_grad():
        s_qsim, mask = qsim_attention(tokens, params, backend)
        s_exact, valid = exact_attention(tokens, params, DIGITS)
    assert torch.equal(mask, valid)
    assert float((s_qsim - s_exact).abs().max()) < 1e-5


def test_placement_avoids_qubits_that_decay_while_idle():
    """Two rows of a 5x5 grid with T1 = T2 = 1 us: the copies go to the three good rows."""
    import dataclasses

    base = resolve_target("grid:5x5")
    t1 = np.array(base.t1_us, dtype=float)
    t2 = np.array(base.t2_us, dtype=float)
    t1[:10] = t2[:10] = 1.0
    leaky = dataclasses.replace(base, name="leaky", t1_us=t1, t2_us=t2)
    c = compile_hqvit(DIGITS, leaky, opt=1)
    assert _first_pass(c) == "synthesize_hqvit"
    assert not set(c.initial_layout) & set(range(10)), c.initial_layout


def test_only_the_two_copy_encoding_takes_the_synthesis_path():
    from hqvit.ir.circuit import AmplitudeEncode, Circuit, Segment
    from hqvit.ir.encoding import encoding_symbols

    one = Circuit(
        6, [Segment("encode", [AmplitudeEncode(tuple(range(6)), "x")])], dict.fromkeys(encoding_symbols("x", 6), "data")
    )
    assert not synthesize_hqvit.applicable(one)
    assert synthesize_hqvit.applicable(build_attention_circuit(DIGITS))
    c = compile_circuit(one, resolve_target("grid:4x4"), opt=2)
    assert _first_pass(c) == "lower"
    assert_equivalent(c, atol=1e-5, trials=1)


@pytest.mark.parametrize("target", ["grid:4x4", "ibm-torino"])
def test_a_shared_rest_routing_is_the_routing_from_its_own_layout(target):
    """Candidates whose layouts agree on the qubits the rest routes share one routing, moved onto
    each layout: the same as routing from that layout (events, cost, final layout, circuit)."""
    from hqvit.passes import sabre
    from hqvit.passes.base import PassContext

    t = resolve_target(target)
    logical = build_attention_circuit(DIGITS)
    ctx = PassContext(t, device=t, seed=0, options={"cancel": True})
    rest = sabre.FlatCircuit(synthesize_hqvit._rest(logical, ctx))
    routed = synthesize_hqvit._routed_qubits(rest)
    assert routed == tuple(sorted(DIGITS_FEATURES))  # the index registers are only measured
    rng = np.random.default_rng(5)
    free = rng.permutation(sorted(t.usable_qubits))
    first = [int(q) for q in free[: logical.num_qubits]]
    second = list(first)
    idle = [q for q in range(logical.num_qubits) if q not in routed]
    others = [int(q) for q in free[logical.num_qubits : logical.num_qubits + len(idle)]]
    for q, p in zip(idle, others, strict=True):
        second[q] = p
    shared = sabre.select(sabre.sabre_route(rest, t, first, 16, 0, ctx.coupling), ctx.coupling)
    moved = synthesize_hqvit._from_layout(shared, second)
    own = sabre.select(sabre.sabre_route(rest, t, second, 16, 0, ctx.coupling), ctx.coupling)
    assert np.array_equal(moved.events, own.events)
    assert moved.initial_layout == own.initial_layout and moved.final_layout == own.final_layout
    assert sabre.exact_cost(moved, ctx.coupling) == sabre.exact_cost(own, ctx.coupling)
    assert [(s.name, s.ops) for s in moved.circuit.segments] == [(s.name, s.ops) for s in own.circuit.segments]


def _tree_order_reference(region, target, toward=None):
    """``register_placement.tree_order`` as first written, on networkx."""
    import networkx as nx

    from hqvit.passes.register_placement import _closeness

    g = target.graph.subgraph(region)
    ends = [q for q in region if g.degree(q) == 1]
    if len(ends) == 2 and all(g.degree(q) <= 2 for q in region) and nx.is_connected(g):
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


def _arrangements_reference(target, placement, feature_levels, ends, limit):
    """``register_placement.feature_arrangements`` as first written: every pair of paths ranked."""
    import heapq

    from hqvit.passes.register_placement import _adjacency, _paths

    adj = _adjacency(target)
    hops = target.coupling.hops
    pa = _paths(adj, placement.regions[0], len(feature_levels))
    pb = _paths(adj, placement.regions[1], len(feature_levels))
    if not pa or not pb:
        return []
    at = [{lv: placement.regions[c][w] for w, lv in enumerate(ends[c])} for c in range(2)]
    move_a = {p: sum(int(hops[at[0][lv], q]) for lv, q in zip(feature_levels, p, strict=True)) for p in pa}
    move_b = {p: sum(int(hops[at[1][lv], q]) for lv, q in zip(feature_levels, p, strict=True)) for p in pb}
    pairs = (
        (move_a[a] + move_b[b] + sum(int(hops[x, y]) - 1 for x, y in zip(a, b, strict=True)), a, b)
        for a in pa
        for b in pb
    )
    wire_a = {q: w for w, q in enumerate(placement.regions[0])}
    wire_b = {q: w for w, q in enumerate(placement.regions[1])}
    return [
        (
            {wire_a[q]: lv for q, lv in zip(a, feature_levels, strict=True)},
            {wire_b[q]: lv for q, lv in zip(b, feature_levels, strict=True)},
        )
        for _, a, b in heapq.nsmallest(limit, pairs)
    ]


@pytest.mark.parametrize("target", ["grid:5x5", "heavy-hex:5", "line:13", "ibm-torino", "ibm-sherbrooke"])
def test_placement_search_matches_its_first_definition(target):
    """Tree orders and feature arrangements (plain adjacency lists and array ranking now) against
    their networkx / every-pair definitions, on the placements the search finds."""
    from hqvit.passes.register_placement import candidate_placements, feature_arrangements, tree_order

    t = resolve_target(target)
    rng = np.random.default_rng(7)
    for n in (6, 8):
        for p in candidate_placements(t, n, 4):
            a, b = p.regions
            assert tree_order(list(a), t, set(b)) == _tree_order_reference(list(a), t, set(b))
            assert tree_order(list(b), t, None) == _tree_order_reference(list(b), t, None)
            assert p.regions[0] == _tree_order_reference(list(a), t, set(b))
            levels = list(range(n - 4, n))
            for _ in range(3):
                ends = [[int(v) for v in rng.permutation(n)] for _ in range(2)]
                for limit in (1, 4, 50):
                    assert feature_arrangements(t, p, levels, ends, limit) == _arrangements_reference(
                        t, p, levels, ends, limit
                    )
