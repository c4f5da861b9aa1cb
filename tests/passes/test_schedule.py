"""Schedules keep the circuit's meaning; ALAP shortens exposure; crosstalk is serialized."""

import numpy as np
import pytest

from hqvit.compiler.hqvit import HQViTConfig
from hqvit.compiler.pipeline import compile_circuit, compile_hqvit
from hqvit.passes.schedule import schedule_alap, schedule_asap
from hqvit.passes.serialize_crosstalk import serialize_crosstalk
from hqvit.targets import resolve_target
from hqvit.targets.schema import target_from_dict, target_to_dict
from tests.helpers import assert_equivalent, random_circuit


def _order_per_qubit(moments):
    seen: dict[int, list] = {}
    for m in moments:
        qs = [q for g in m for q in g.qubits]
        assert len(qs) == len(set(qs)), "two gates share a qubit in one moment"
        for g in m:
            for q in g.qubits:
                seen.setdefault(q, []).append(g)
    return seen


@pytest.mark.parametrize("seed", range(5))
def test_asap_and_alap_keep_the_order_on_every_qubit(seed):
    circuit, _ = random_circuit(np.random.default_rng(seed), 5, 60, symbolic=False)
    program = _order_per_qubit([[g] for g in circuit.gates()])
    for schedule in (schedule_asap(circuit), schedule_alap(circuit)):
        assert _order_per_qubit(schedule.moments) == program
        assert schedule.depth() == schedule_asap(circuit).depth()


def test_alap_raises_esp_on_a_real_device():
    t = resolve_target("ibm-torino")
    cfg = HQViTConfig()
    asap = compile_hqvit(cfg, t, opt=1)
    asap.schedule = schedule_asap(asap.circuit)
    alap = compile_hqvit(cfg, t, opt=1)
    assert alap.success_probability()["esp_idle"] > asap.success_probability()["esp_idle"]
    assert alap.success_probability()["esp_gates"] == pytest.approx(asap.success_probability()["esp_gates"])


def test_moment_structured_export_equals_the_circuit():
    cc = compile_hqvit(HQViTConfig((4, 4), (2, 2), layers=1), resolve_target("grid:3x3"), opt=3)
    rng = np.random.default_rng(0)
    values = {s: float(rng.uniform(-3, 3)) for s in cc.circuit.symbols}
    from hqvit.ir.cirq_export import to_cirq

    scheduled = cc.to_cirq(values, measurements=False)
    plain = to_cirq(cc.circuit, values, cc.cirq_qubits(), measurements=False)
    assert len(scheduled) == cc.schedule.depth()
    assert scheduled.all_qubits() == plain.all_qubits()
    assert_equivalent(scheduled, plain)


def test_crosstalking_couplers_never_share_a_moment():
    d = target_to_dict(resolve_target("line:6"))
    d["crosstalk"] = [[[0, 1], [2, 3]], [[2, 3], [4, 5]]]
    t = target_from_dict(d)
    from hqvit.ir.circuit import Circuit, Gate, Segment

    ops = [Gate("cx", (0, 1)), Gate("cx", (2, 3)), Gate("cx", (4, 5))] * 3
    cc = compile_circuit(Circuit(6, [Segment("main", ops)]), t, opt=0)
    bad = {frozenset(((0, 1), (2, 3))), frozenset(((2, 3), (4, 5)))}
    for m in cc.schedule.moments:
        edges = [tuple(sorted(g.qubits)) for g in m if len(g.qubits) == 2]
        assert not any(frozenset((a, b)) in bad for a in edges for b in edges if a != b)
    plain = schedule_asap(cc.circuit)
    assert cc.schedule.depth() > plain.depth()
    assert _order_per_qubit(serialize_crosstalk(plain, t).moments) == _order_per_qubit(plain.moments)
