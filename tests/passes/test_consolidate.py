"""Two-qubit block consolidation: equivalent, fewer entanglers where KAK allows, symbols kept."""

import numpy as np
import pytest

from hqvit.ir.angles import Angle
from hqvit.ir.circuit import Gate
from hqvit.ir.metrics import gate_counts
from hqvit.passes.consolidate import consolidate_blocks
from tests.helpers import assert_equivalent, one_segment


def _two_qubit(c):
    return gate_counts(c)["two_qubit_gates"]


def test_swap_after_controlled_phase_becomes_three_czs():
    # CP(t) = CX RZ CX plus phases; followed by a SWAP (3 CX): 5 entanglers, KAK needs 3
    t = 0.7
    ops = [
        Gate("rz", (0,), (Angle(t / 2),)),
        Gate("cx", (0, 1)),
        Gate("rz", (1,), (Angle(-t / 2),)),
        Gate("cx", (0, 1)),
        Gate("rz", (1,), (Angle(t / 2),)),
        Gate("cx", (0, 1)),
        Gate("cx", (1, 0)),
        Gate("cx", (0, 1)),
    ]
    out = consolidate_blocks(one_segment(2, ops))
    assert _two_qubit(out) == 3
    assert_equivalent(out, one_segment(2, ops))


def test_blocks_interrupted_by_other_qubits_stay_correct():
    rng = np.random.default_rng(3)
    names = ["cx", "cz", "swap"]
    ops = []
    for _ in range(60):
        if rng.random() < 0.4:
            q = int(rng.integers(4))
            ops.append(Gate(str(rng.choice(["rx", "ry", "rz"])), (q,), (Angle(float(rng.uniform(-3, 3))),)))
        else:
            a, b = (int(x) for x in rng.choice(4, 2, replace=False))
            ops.append(Gate(str(rng.choice(names)), (a, b)))
    c = one_segment(4, ops)
    out = consolidate_blocks(c)
    assert _two_qubit(out) < _two_qubit(c)
    assert_equivalent(out, c)


def test_symbolic_gates_end_blocks_and_are_kept():
    a = Angle.symbol("a")
    ops = [
        Gate("cx", (0, 1)),
        Gate("cx", (1, 0)),
        Gate("ry", (0,), (a,)),
        Gate("cx", (0, 1)),
        Gate("cx", (1, 0)),
    ]
    out = consolidate_blocks(one_segment(2, ops))
    assert any(g.angles and not g.angles[0].is_numeric for g in out.gates())
    assert_equivalent(out, one_segment(2, ops), bindings=[{"a": 0.3}, {"a": -1.9}])


@pytest.mark.parametrize("seed", range(5))
def test_random_two_qubit_runs_never_grow(seed):
    rng = np.random.default_rng(seed)
    ops = []
    for _ in range(12):
        q = int(rng.integers(2))
        ops.append(Gate("u3", (q,), tuple(Angle(float(x)) for x in rng.uniform(-3, 3, 3))))
        ops.append(Gate("cx", (q, 1 - q)))
    c = one_segment(2, ops)
    out = consolidate_blocks(c)
    assert _two_qubit(out) <= 3
    assert_equivalent(out, c)


@pytest.mark.parametrize("seed", range(20))
def test_entangler_count_matches_synthesis(seed):
    import cirq

    from hqvit.passes.consolidate import entanglers_needed

    rng = np.random.default_rng(seed)
    q = cirq.LineQubit.range(2)
    k = seed % 4  # 0..3 CZs between random local layers
    ops = []
    for _ in range(k):
        ops += [cirq.MatrixGate(cirq.testing.random_unitary(2, random_state=int(rng.integers(1e9))))(x) for x in q]
        ops.append(cirq.CZ(*q))
    ops += [cirq.MatrixGate(cirq.testing.random_unitary(2, random_state=int(rng.integers(1e9))))(x) for x in q]
    u = cirq.Circuit(ops).unitary(qubit_order=q)
    assert entanglers_needed(u) == k
    synth = cirq.two_qubit_matrix_to_cz_operations(q[0], q[1], u, allow_partial_czs=False)
    assert sum(len(op.qubits) == 2 for op in synth) == k
    assert entanglers_needed(cirq.unitary(cirq.SWAP)) == 3
    assert entanglers_needed(cirq.unitary(cirq.CNOT)) == 1


def test_a_repeated_block_is_resynthesized_once_and_alike(monkeypatch):
    """Equal blocks (names, positions in the pair, angles) share one synthesis, whichever pair and
    orientation they sit on: the output is gate for gate the one without the shared table."""
    from hqvit.passes import consolidate

    rng = np.random.default_rng(11)
    block = []
    for _ in range(3):
        block.append(Gate("u3", (int(rng.integers(2)),), tuple(Angle(float(x)) for x in rng.uniform(-3, 3, 3))))
        block.append(Gate("cx", (0, 1) if rng.integers(2) else (1, 0)))
    ops = []
    for a, b in [(0, 1), (2, 3), (1, 0), (3, 2), (0, 1)]:
        ops += [g.on(tuple((a, b)[q] for q in g.qubits)) for g in block]
        ops.append(Gate("ry", (a,), (Angle.symbol("s"),)))  # a symbol ends the block
    c = one_segment(4, ops)
    shared = consolidate.consolidate_blocks(c)
    assert _two_qubit(shared) < _two_qubit(c)

    class Forgetful(dict):
        def __setitem__(self, key, value):
            pass

    monkeypatch.setattr(consolidate, "_REPLACEMENTS", Forgetful())
    fresh = consolidate.consolidate_blocks(c)
    assert [(s.name, s.ops) for s in shared.segments] == [(s.name, s.ops) for s in fresh.segments]
    assert_equivalent(shared, c, bindings=[{"s": 0.4}])
