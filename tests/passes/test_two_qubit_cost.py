"""The compiled cancellation and scoring equal their Python definitions, decision for decision."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hqvit.compiler.hqvit import HQViTConfig
from hqvit.ir.angles import Angle
from hqvit.ir.circuit import Circuit, Gate, Measure, Segment
from hqvit.ir.metrics import asap_levels, depth
from hqvit.passes import sabre
from hqvit.passes.cancel import cancel_and_merge, cancel_and_merge_reference
from hqvit.targets.registry import resolve_target

ONE = ("h", "x", "z", "s", "sdg", "t", "tdg", "sx", "sxdg", "rx", "ry", "rz", "u3")
TWO = ("cx", "cx", "cx", "cz", "swap", "zz", "ecr")


def _angle(rng: np.random.Generator) -> Angle:
    """Angles that merge, vanish and wrap: symbols with opposite signs, multiples of pi."""
    kind = rng.integers(4)
    if kind == 0:
        return Angle(float(rng.choice([0.0, math.pi, -math.pi, 2 * math.pi, math.pi / 2])))
    name = f"x{rng.integers(3)}"
    sign = float(rng.choice([1.0, -1.0]))
    return Angle.symbol(name, sign) + float(rng.choice([0.0, math.pi, -math.pi / 2]))


def random_circuit(rng: np.random.Generator, n: int, size: int, segments: int) -> Circuit:
    segs = []
    for s in range(segments):
        ops: list = []
        while len(ops) < size:
            r = rng.random()
            if r < 0.03:
                ops.append(Measure(tuple(int(q) for q in rng.choice(n, size=rng.integers(1, 3), replace=False))))
            elif r < 0.5:
                name = str(rng.choice(ONE))
                q = (int(rng.integers(n)),)
                angles = (_angle(rng),) if name in ("rx", "ry", "rz") else ()
                angles = (_angle(rng), _angle(rng), _angle(rng)) if name == "u3" else angles
                ops.append(Gate(name, q, angles))
            elif r < 0.97 or n < 3:
                a, b = (int(q) for q in rng.choice(n, size=2, replace=False))
                # few qubits, repeated pairs: cancellations and look-backs through commuting gates
                ops.append(Gate(str(rng.choice(TWO)), (a, b)))
                if rng.random() < 0.3:
                    ops.append(Gate(ops[-1].name, (b, a) if rng.random() < 0.3 else (a, b)))
            else:
                a, b, c = (int(q) for q in rng.choice(n, size=3, replace=False))
                ops.append(Gate("ccx", (a, b, c)))
        segs.append(Segment(f"s{s}", ops))
    return Circuit(n, segs)


@pytest.mark.parametrize("seed", range(40))
def test_cancellation_equals_the_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    c = random_circuit(rng, int(rng.integers(2, 6)), int(rng.integers(20, 300)), int(rng.integers(1, 4)))
    fast, ref = cancel_and_merge(c), cancel_and_merge_reference(c)
    assert [s.ops for s in fast.segments] == [s.ops for s in ref.segments]
    assert len(list(ref.gates())) < len(list(c.gates()))  # the case exercises the rules


@pytest.mark.parametrize("seed", range(40))
def test_exact_cost_equals_the_reference(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    target = resolve_target("grid:3x3")
    c = random_circuit(rng, 9, int(rng.integers(20, 300)), int(rng.integers(1, 4)))
    assert sabre.exact_cost_of(c, target.coupling) == sabre.exact_cost_reference(c, target.coupling)


def test_long_windows_equal_the_reference() -> None:
    """Past the look-back window (64 gates, 128 positions per qubit) the rules stop the same way."""
    rng = np.random.default_rng(7)
    ops = [Gate("cx", (0, 1))]
    ops += [Gate("rz", (0,), (Angle.symbol(f"a{i}"),)) for i in range(70)]
    ops += [Gate("cx", (0, 1))] + [Gate("cx", (2, 1)) for _ in range(130)] + [Gate("cx", (0, 1))]
    ops += [Gate(str(rng.choice(TWO)), (0, 1)) for _ in range(200)]
    c = Circuit(3, [Segment("s", ops)])
    fast, ref = cancel_and_merge(c), cancel_and_merge_reference(c)
    assert [s.ops for s in fast.segments] == [s.ops for s in ref.segments]
    target = resolve_target("line:3")
    assert sabre.exact_cost_of(c, target.coupling) == sabre.exact_cost_reference(c, target.coupling)


@pytest.mark.parametrize("target_name", ["line:13", "grid:4x4", "ibm-torino"])
def test_routing_costs_equal_the_reference(target_name: str) -> None:
    """Routings replayed from their events in compiled code score as their built circuits do."""
    from hqvit.compiler.hqvit import build_attention_circuit
    from hqvit.passes import expand_three_qubit, lower
    from hqvit.passes.base import PassContext

    target = resolve_target(target_name)
    logical = build_attention_circuit(HQViTConfig(image=(8, 8), patch=(4, 4)))
    ctx = PassContext(target=target, seed=0, options={})
    flat = expand_three_qubit.run(lower.run(logical, ctx), ctx)
    layout = list(target.usable_qubits[: flat.num_qubits])
    routings = sabre.sabre_route(flat, target, layout, trials=6, seed=3)
    for r in routings:
        assert sabre.exact_cost(r, target.coupling) == sabre.exact_cost_reference(r.circuit, target.coupling)


def test_a_near_zero_symbolic_angle_takes_the_reference() -> None:
    """The compiled rules judge "vanishes" by evaluating symbols; a coefficient too small for that
    test is caught by the exact replay and the result is the reference's."""
    tiny = Angle.symbol("x", 1e-13)
    ops = [Gate("cx", (0, 1)), Gate("rz", (1,), (tiny,)), Gate("cx", (0, 1))]
    ops += [Gate("ry", (0,), (tiny,)), Gate("ry", (0,), (Angle.symbol("x", 1e-13) * -1 + 2 * math.pi,))]
    c = Circuit(2, [Segment("s", ops)])
    fast, ref = cancel_and_merge(c), cancel_and_merge_reference(c)
    assert [s.ops for s in fast.segments] == [s.ops for s in ref.segments]
    assert any(g.name == "rz" for g in fast.gates())


@pytest.mark.parametrize("seed", range(10))
def test_depth_is_the_asap_depth(seed: int) -> None:
    rng = np.random.default_rng(seed)
    c = random_circuit(rng, 5, 120, 2)
    for arity in (1, 2, 3):
        levels = asap_levels(g.qubits for g in c.gates() if len(g.qubits) >= arity)
        assert depth(c, arity) == max(levels, default=-1) + 1


@pytest.mark.parametrize("target_name", ["grid:4x4", "ibm-torino"])
def test_synthesis_candidates_score_as_their_built_circuits(target_name: str) -> None:
    """A candidate's cost (encode segment + rest routing, each scored once) is the exact cost of
    the circuit it builds: nothing cancels across a segment boundary."""
    from hqvit.compiler.hqvit import build_attention_circuit
    from hqvit.passes import synthesize_hqvit
    from hqvit.passes.base import PassContext
    from hqvit.passes.register_placement import candidate_placements

    target = resolve_target(target_name)
    logical = build_attention_circuit(HQViTConfig(image=(8, 8), patch=(4, 4)))
    ctx = PassContext(target=target, seed=0, options={"cancel": True, "placements": 2})
    placement = candidate_placements(target, 6, 1)[0]
    candidates = synthesize_hqvit.synthesize(logical, ctx, placement)
    assert len(candidates) > 1
    for c in candidates:
        weighted, count = sabre.exact_cost_of(c.physical(logical, target), target.coupling)
        assert c.cost[1] == count
        assert c.cost[0] == pytest.approx(weighted, abs=1e-8)


def test_region_closeness_equals_networkx() -> None:
    """The placement's own closeness centrality is networkx's, float for float (ties in the tree
    order depend on it), on random graphs with isolated and disconnected parts."""
    import random

    import networkx as nx

    from hqvit.passes.register_placement import _closeness

    for seed in range(200):
        rng = random.Random(seed)
        g = nx.gnm_random_graph(rng.randint(1, 12), rng.randint(0, 25), seed=seed)
        region = list(g.nodes)
        assert _closeness(region, {q: list(g[q]) for q in region}) == nx.closeness_centrality(g)
