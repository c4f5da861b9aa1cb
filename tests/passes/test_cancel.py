"""Cancellation and rotation merging: inverse pairs go, commuting gates are looked through,
symbols are kept, the result is equivalent."""

import numpy as np
import pytest

from hqvit.ir.angles import Angle
from hqvit.ir.circuit import Gate
from hqvit.passes.cancel import cancel_and_merge
from hqvit.passes.expand_swaps import expand_swaps
from tests.helpers import assert_equivalent, one_segment, random_circuit


def test_inverse_pairs_and_rotations():
    a = Angle.symbol("a")
    ops = [
        Gate("cx", (0, 1)),
        Gate("cx", (0, 1)),
        Gate("rz", (1,), (a,)),
        Gate("rz", (1,), (-a,)),
        Gate("s", (0,)),
        Gate("sdg", (0,)),
        Gate("ry", (2,), (a * 2,)),
        Gate("ry", (2,), (Angle(0.5),)),
    ]
    out = cancel_and_merge(one_segment(3, ops))
    assert [(g.name, g.qubits) for g in out.gates()] == [("ry", (2,))]
    assert next(out.gates()).angles[0] == Angle.symbol("a", 2.0) + 0.5


def test_cancellation_through_commuting_gates():
    ops = [
        Gate("rz", (0,), (Angle(0.3),)),
        Gate("cx", (0, 1)),
        Gate("rx", (1,), (Angle(0.2),)),
        Gate("cx", (0, 2)),
        Gate("rz", (0,), (Angle(-0.3),)),
        Gate("rx", (1,), (Angle(-0.2),)),
    ]
    out = cancel_and_merge(one_segment(3, ops))
    assert [g.name for g in out.gates()] == ["cx", "cx"]
    assert_equivalent(out, one_segment(3, ops))


def test_no_cancellation_across_non_commuting_gates():
    ops = [Gate("h", (0,)), Gate("cx", (0, 1)), Gate("h", (0,))]
    assert len(list(cancel_and_merge(one_segment(2, ops)).gates())) == 3


def test_swap_next_to_a_cnot_costs_two_cnots():
    ops = [Gate("cx", (1, 0)), Gate("swap", (0, 1))]
    out = cancel_and_merge(expand_swaps(one_segment(2, ops)))
    assert sum(g.name == "cx" for g in out.gates()) == 2
    assert_equivalent(out, one_segment(2, ops))


@pytest.mark.parametrize("seed", range(10))
def test_cancel_is_equivalent_on_random_symbolic_circuits(seed):
    rng = np.random.default_rng(seed)
    circuit, bindings = random_circuit(rng, 4, 60, symbolic=True)
    out = cancel_and_merge(circuit)
    assert out.used_symbols() == circuit.used_symbols()
    assert [s.name for s in out.segments] == [s.name for s in circuit.segments]
    assert_equivalent(out, circuit, bindings=bindings)
