"""``esp_of_moments``, ``esp_of_schedule`` and ``plan_moments`` against plain reference versions:
the same floats, bit for bit, on random schedules (overlapping operations, empty and
zero-duration moments, dead couplers, several noise scales and measured subsets) and on compiled
circuits of several devices."""

import gc
import math
from dataclasses import replace

import numpy as np
import pytest

from hqvit.compiler.hqvit import HQViTConfig
from hqvit.compiler.pipeline import compile_circuit, compile_hqvit
from hqvit.ir.angles import Angle
from hqvit.ir.circuit import Circuit, Gate, Measure, Segment
from hqvit.targets import noise, resolve_target
from hqvit.targets.noise import MomentPlan, esp, esp_of_moments, esp_of_schedule, plan_moments

ONE_QUBIT = ("rz", "sx", "x", "ry", "u3")
TWO_QUBIT = ("cx", "cz", "ecr", "sqrt_iswap")
SCALES = (1.0, 0.0, 0.37, 3.0, 1e4)


def reference_plans(moments, target) -> list[MomentPlan]:
    """The plain algorithm: every cost asked of the target, the touched set sorted every moment."""
    touched: set[int] = set()
    plans = []
    for ops in moments:
        costs = [(qs, target.gate_error(name, qs), target.gate_duration(name, qs)) for name, qs in ops]
        duration = max((d for _, _, d in costs), default=0.0)
        plan = MomentPlan(duration, ops=list(ops))
        for qs, r, d in costs:
            plan.errors.append((qs, r))
            for q in qs:
                plan.busy[q] = d
        touched.update(plan.busy)
        for q in sorted(touched):
            t = duration - plan.busy.get(q, 0.0)
            if t > 0:
                plan.idle.append((q, t))
        plans.append(plan)
    return plans


def _bits(plans: list[MomentPlan]) -> list[str]:
    """Exact text of each plan: repr tells -0.0 from 0.0, ints from floats, every float bit."""
    return [repr((p.duration_ns, p.errors, p.idle, p.ops, p.busy)) for p in plans]


def _dead_coupler_line():
    """line:5 with one coupler of error 1 (every gate on it fails) and real rz pulses."""
    t = resolve_target("line:5@p1=0.01,p2=0.05,ro=0.03,t1=5,t2=4")
    return replace(t, couplers=t.couplers | {(1, 2): 1.0}, virtual_z=False)


TARGETS = {
    "ibm-torino": lambda: resolve_target("ibm-torino"),  # disabled qubits, per-coupler durations
    "ibm-sherbrooke": lambda: resolve_target("ibm-sherbrooke"),
    "line:5": lambda: resolve_target("line:5@p1=0.01,p2=0.05,ro=0.3,t1=5,t2=4"),
    "grid:3x3": lambda: resolve_target("grid:3x3"),
    "ionq-aria": lambda: resolve_target("ionq-aria"),
    "dead-coupler": _dead_coupler_line,
}


def _random_moments(target, rng, n_moments: int) -> list[list[tuple[str, tuple[int, ...]]]]:
    """Moments of random operations: mostly disjoint ones on couplers, some on uncoupled pairs
    and triples, now and then a qubit two operations share, empty moments, rz-only moments."""
    usable = target.usable_qubits[:12]
    edges = [e for e in target.edges if set(e) <= set(usable)]
    moments = []
    for _ in range(n_moments):
        kind = rng.random()
        if kind < 0.08:
            moments.append([])
            continue
        if kind < 0.15:
            moments.append([("rz", (int(q),)) for q in rng.choice(usable, 2, replace=False)])
            continue
        ops, free = [], set(usable)
        for _ in range(int(rng.integers(1, 6))):
            pick = rng.random()
            if pick < 0.45:
                qs = (int(rng.choice(sorted(free) if free else usable)),)
                ops.append((str(rng.choice(ONE_QUBIT)), qs))
            elif pick < 0.85 and edges:
                a, b = edges[int(rng.integers(len(edges)))]
                ops.append((str(rng.choice(TWO_QUBIT)), (a, b) if rng.random() < 0.5 else (b, a)))
            elif pick < 0.95:
                ops.append(("cx", tuple(int(q) for q in rng.choice(usable, 2, replace=False))))
            else:
                ops.append(("ccx", tuple(int(q) for q in rng.choice(usable, 3, replace=False))))
            if rng.random() < 0.9:  # usually disjoint, as a schedule is; sometimes not
                free -= set(ops[-1][1])
        moments.append(ops)
    return moments


def _measured(target, moments, rng) -> tuple[int, ...]:
    used = sorted({q for ops in moments for _, qs in ops for q in qs})
    choice = rng.integers(3)
    if choice == 0 or not used:
        return tuple(used)
    if choice == 1:
        return ()
    return tuple(int(q) for q in rng.choice(used, int(rng.integers(1, len(used) + 1)), replace=False))


def _assert_same_esp(moments, measured, target, scale) -> dict:
    fast = esp_of_moments(moments, measured, target, scale)
    slow = esp(reference_plans(moments, target), measured, target, scale, coherent=False)
    assert list(fast) == list(slow)
    assert repr(fast) == repr(slow), (fast, slow)
    assert repr(esp(plan_moments(moments, target), measured, target, scale, coherent=False)) == repr(slow)
    return fast


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_random_schedules_plan_and_score_as_the_reference(name):
    target = TARGETS[name]()
    rng = np.random.default_rng(sum(map(ord, name)))
    seen_zero = seen_partial = 0
    for trial in range(40):
        moments = _random_moments(target, rng, int(rng.integers(0, 80)))
        assert _bits(plan_moments(moments, target)) == _bits(reference_plans(moments, target))
        measured = _measured(target, moments, rng)
        for scale in SCALES[: 2 + trial % 4]:
            e = _assert_same_esp(moments, measured, target, scale)
            seen_zero += e["esp"] == 0.0
            seen_partial += 0.0 < e["esp"] < 1.0
    assert seen_partial > 20 and (seen_zero > 0 or name == "grid:3x3")  # the cases were exercised


def test_idle_sum_across_blocks(monkeypatch):
    """Blocks of a few cells: the running sum carries from block to block unchanged."""
    target = TARGETS["ibm-torino"]()
    rng = np.random.default_rng(7)
    monkeypatch.setattr(noise, "IDLE_BLOCK", 7)
    for _ in range(10):
        moments = _random_moments(target, rng, 120)
        _assert_same_esp(moments, _measured(target, moments, rng), target, 1.0)


def test_edge_cases():
    target = _dead_coupler_line()
    cases = [
        [],  # no moment at all
        [[], [], []],  # only empty moments
        [[("rz", (0,))], [], [("sx", (1,))]],
        [[("cx", (1, 2))], [("sx", (0,))]],  # the dead coupler: ESP 0
        [[("cx", (0, 1)), ("sx", (1,))], [("x", (2,))]],  # qubit 1 in two operations: the later counts
        [[("sx", (1,)), ("cx", (0, 1))], [("ccx", (0, 2, 4))], [("rz", (3,))]],
        [[("cx", (0, 3))]],  # no coupler: the median error
    ]
    for moments in cases:
        for measured in ((), (0,), (0, 1, 2, 3, 4)):
            for scale in SCALES:
                _assert_same_esp(moments, measured, target, scale)
    assert esp_of_moments(cases[3], (0,), target)["esp"] == 0.0
    assert esp_of_moments(cases[0], (), target) == {
        "esp": 1.0,
        "fidelity_estimate": 1.0,
        "esp_gates": 1.0,
        "esp_idle": 1.0,
        "esp_readout": 1.0,
        "duration_ns": 0,
    }
    busy = plan_moments(cases[4], target)[0].busy
    assert busy[1] == target.gate_duration("sx", (1,)) != target.gate_duration("cx", (0, 1))


def _random_circuit(n: int, seed: int) -> Circuit:
    rng = np.random.default_rng(seed)
    ops = []
    for _ in range(12):
        q = int(rng.integers(n))
        ops.append(Gate("ry", (q,), (Angle(float(rng.uniform(0.3, 2.8))),)))
        a, b = (int(x) for x in rng.choice(n, 2, replace=False))
        ops.append(Gate("cx", (a, b)))
    ops.append(Measure(tuple(range(n))))
    return Circuit(n, [Segment("main", ops)])


@pytest.mark.parametrize(
    "name", ["ibm-torino", "ibm-sherbrooke", "grid:3x3", "line:5@p2=0.03", "willow105", "sycamore23"]
)
def test_compiled_circuits(name):
    if name in ("willow105", "sycamore23"):
        pytest.importorskip("cirq_google")
    target = resolve_target(name)
    compiled = [compile_circuit(_random_circuit(5, seed), target, opt=opt) for seed, opt in ((0, 1), (1, 3))]
    if name.startswith("ibm"):
        compiled.append(compile_hqvit(HQViTConfig((4, 4), (2, 2), layers=1), target, opt=3))
    for cc in compiled:
        moments = [[(g.name, g.qubits) for g in m] for m in cc.schedule.moments]
        assert _bits(plan_moments(moments, target)) == _bits(reference_plans(moments, target))
        for scale in (1.0, 2.5):
            e = _assert_same_esp(moments, cc.schedule.measured, target, scale)
            assert 0.0 < e["esp"] < 1.0
            assert repr(esp_of_schedule(cc.schedule, target, scale)) == repr(e)
        fast = esp_of_moments(moments, cc.schedule.measured, target)
        assert fast["esp"] == cc.success_probability(coherent=False)["esp"]


def test_plan_moments_leaves_the_collector_as_it_was():
    target = TARGETS["line:5"]()
    moments = [[("cx", (0, 1))], [("sx", (2,))]]
    assert gc.isenabled()
    plan_moments(moments, target)
    assert gc.isenabled()
    gc.disable()
    try:
        plan_moments(moments, target)
        assert not gc.isenabled()
    finally:
        gc.enable()
    with pytest.raises(IndexError):
        plan_moments([[("sx", (99,))]], target)  # no qubit 99: the error passes, the collector runs
    assert gc.isenabled()


def test_idle_terms_are_summed_in_plan_order():
    """The order matters to the last bit: the same idle terms summed pairwise (numpy's sum) or
    qubit by qubit give another float here, and ``esp_of_moments`` gives the one ``esp`` does."""
    target = TARGETS["ibm-torino"]()
    rng = np.random.default_rng(3)
    moments = _random_moments(target, rng, 400)
    t1, tphi = target.decoherence_ns()
    terms = [t / t1[q] + t / tphi[q] for p in reference_plans(moments, target) for q, t in p.idle]
    sequential = 0.0
    for x in terms:
        sequential += x
    assert float(np.sum(terms)) != sequential  # the check below can tell the orders apart
    expected = math.exp(-sequential)
    assert esp_of_moments(moments, (), target)["esp_idle"] == expected
