"""The faster forms of the cleanup passes against plain definitions written out here: the same
layers, rows, gates and circuits, object for object where the pass promises it."""

import math

import numpy as np
import pytest

from hqvit.compiler.hqvit import HQViTConfig, build_attention_circuit
from hqvit.compiler.passmanager import PassManager, best_of
from hqvit.compiler.pipeline import PRESETS, preset_passes
from hqvit.ir.angles import Angle
from hqvit.ir.circuit import Ansatz, Circuit, Gate, Measure, Segment
from hqvit.ir.metrics import FIGURES, asap_layers, gate_layers, two_qubit_gates_and_depth
from hqvit.passes import cancel as cancel_module
from hqvit.passes import schedule, serialize_crosstalk
from hqvit.passes import two_qubit_cost as cost
from hqvit.passes.base import PassContext
from hqvit.passes.cancel import cancel_and_merge, cancel_and_merge_reference, cancel_with_figures
from hqvit.passes.expand_swaps import expand_swaps
from hqvit.passes.lower import lower, lower_op
from hqvit.passes.native import placed_template, translate_two_qubit, two_qubit_template
from hqvit.passes.schedule import schedule_alap, schedule_asap
from hqvit.passes.single_qubit import (
    _flush,
    _no_negative_zero,
    _run_item,
    resynthesize_single_qubit,
    resynthesize_with_figures,
    symbolic_to_native,
)
from hqvit.targets import resolve_target
from tests.helpers import random_circuit


def _with_measures(circuit: Circuit, rng) -> Circuit:
    """``circuit`` with a measurement inside a segment and one at the end of the last."""
    segs = [Segment(s.name, list(s.ops)) for s in circuit.segments]
    ops = segs[0].ops
    ops.insert(len(ops) // 2, Measure((int(rng.integers(circuit.num_qubits)),)))
    segs[-1].ops.append(Measure(tuple(range(circuit.num_qubits))))
    return circuit.with_segments(segs)


def _rz_chains(rng, n: int, length: int) -> Circuit:
    """Runs of rz (numeric, symbolic, cancelling) between CNOTs: merges and vanishing sums."""
    ops = []
    for k in range(length):
        q = int(rng.integers(n))
        r = rng.uniform()
        if r < 0.15:
            ops.append(Gate("cx", (q, (q + 1) % n)))
        elif r < 0.3:
            ops.append(Gate("rz", (q,), (Angle.symbol(f"s{k % 3}", float(rng.choice([1.0, -1.0]))),)))
        elif r < 0.4:
            ops.append(Gate("rz", (q,), (Angle(math.pi),)))
        elif r < 0.5:  # numpy constants, as resynthesis makes them: sums keep the type
            ops.append(Gate("rz", (q,), (Angle(np.float64(rng.uniform(-1, 1))),)))
        else:
            ops.append(Gate("rz", (q,), (Angle(float(rng.uniform(-1, 1))),)))
    return Circuit(n, [Segment("a", ops[: length // 2]), Segment("b", ops[length // 2 :])])


@pytest.mark.parametrize("seed", range(6))
def test_gate_layers_are_asap_layers(seed):
    circuit, _ = random_circuit(np.random.default_rng(seed), 5, 80, symbolic=True)
    gates = list(circuit.gates())
    for order in (gates, gates[::-1]):
        assert gate_layers(order, circuit.num_qubits) == asap_layers(order, lambda g: g.qubits)


@pytest.mark.parametrize("seed", range(4))
def test_schedules_are_the_layerings_of_their_definition(seed):
    rng = np.random.default_rng(seed)
    circuit = _with_measures(random_circuit(rng, 5, 60, symbolic=False)[0], rng)
    gates = list(circuit.gates())
    asap, alap = schedule_asap(circuit), schedule_alap(circuit)
    assert asap.moments == asap_layers(gates, lambda g: g.qubits)
    assert alap.moments == [layer[::-1] for layer in asap_layers(gates[::-1], lambda g: g.qubits)[::-1]]
    assert asap.measured == alap.measured == circuit.measured_qubits()


def _rows_reference(circuit: Circuit):
    """Rows op by op from ``_gate_row`` (the definition ``circuit_rows`` follows)."""
    names, qubits, angles, ptr = [], [], [], [0]
    for seg in circuit.segments:
        for op in seg.ops:
            row = cost._gate_row(op)
            if row is None:
                return None
            if isinstance(op, Gate):
                names.append(row[0])
                qubits.append(row[1] + (-1,) * (3 - len(row[1])))
                angles.append(row[2])
            else:
                for x in row[1]:
                    names.append(row[0])
                    qubits.append((x, -1, -1))
                    angles.append(row[2])
        ptr.append(len(names))
    return (
        np.array(names, np.int64),
        np.array(qubits, np.int64).reshape(-1, 3),
        np.array(angles, np.float64).reshape(-1, 3),
        np.array(ptr, np.int64),
    )


def _same_rows(a, b) -> bool:
    return all(x.dtype == y.dtype and x.shape == y.shape and np.array_equal(x, y) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("seed", range(4))
def test_circuit_rows_equal_the_rows_op_by_op(seed):
    rng = np.random.default_rng(seed)
    plain = random_circuit(rng, 5, 60, symbolic=True)[0]
    plain = Circuit(5, [*plain.segments, Segment("empty", [])], plain.symbols)
    for circuit in (plain, _with_measures(plain, rng)):  # gates only (the read path), and not
        expected = _rows_reference(circuit)
        for _ in range(2):  # rows built, then read from the gates' cache
            gates: list = []
            assert _same_rows(cost.circuit_rows(circuit, gates), expected)
            assert gates == list(circuit.gates())
        assert _same_rows(cost.circuit_rows(circuit), expected)
    # a negative zero keeps its sign through the table, also after a positive zero's row was built
    cost.circuit_rows(Circuit(1, [Segment("a", [Gate("rz", (0,), (Angle(0.0),))])]))
    neg = Circuit(1, [Segment("a", [Gate("rz", (0,), (Angle(-0.0),))])])
    assert math.copysign(1.0, cost.circuit_rows(neg)[2][0, 0]) == -1.0


def test_circuit_rows_refuse_a_gate_the_kernel_cannot_take(monkeypatch):
    circuit = Circuit(2, [Segment("a", [Gate("cx", (0, 1)), Gate("h", (0,))])])
    monkeypatch.delitem(cost._INFO, "h")  # as for a gate outside the kernel's table
    assert cost.circuit_rows(circuit) is None
    assert cost.circuit_rows(circuit) is None  # also once its row is cached


@pytest.mark.parametrize("seed", range(8))
def test_cancel_equals_the_reference_with_merges_and_measurements(seed):
    rng = np.random.default_rng(seed)
    for circuit in (_rz_chains(rng, 3, 120), _with_measures(_rz_chains(rng, 3, 120), rng)):
        fast, reference = cancel_and_merge(circuit), cancel_and_merge_reference(circuit)
        assert [(s.name, s.ops) for s in fast.segments] == [(s.name, s.ops) for s in reference.segments]
        # bit for bit, not just ==: 0.0 == -0.0
        assert repr(fast.segments) == repr(reference.segments)


def test_placed_templates_are_the_template_on_the_pair():
    for gate in ("cx", "swap", "cz", "sqrt_iswap"):
        for qubits in ((0, 3), (3, 0)):
            fresh = tuple(g.on(tuple(qubits[i] for i in g.qubits)) for g in two_qubit_template(gate, "ecr"))
            assert placed_template(gate, "ecr", qubits) == fresh
    circuit = Circuit(3, [Segment("a", [Gate("cx", (2, 0)), Gate("h", (1,)), Gate("ecr", (0, 1)), Measure((0,))])])
    ops = translate_two_qubit(circuit, "ecr").segments[0].ops
    assert ops == [*placed_template("cx", "ecr", (2, 0)), Gate("h", (1,)), Gate("ecr", (0, 1)), Measure((0,))]


def _resynthesize_reference(circuit: Circuit, native: str) -> Circuit:
    """Single-qubit resynthesis op by op, numeric-ness tested on the angles directly."""
    segments = []
    for seg in circuit.segments:
        out, pending = [], {}
        for op in seg.ops:
            one = isinstance(op, Gate) and len(op.qubits) == 1
            if one and all(a.is_numeric for a in op.angles):
                pending.setdefault(op.qubits[0], []).append(op)
                continue
            for q in op.qubits:
                if q in pending:
                    out.extend(_flush(pending.pop(q), q, native))
            out.extend(symbolic_to_native(op, native) if one else [op])
        for q in sorted(pending):
            out.extend(_flush(pending[q], q, native))
        segments.append(Segment(seg.name, out))
    return circuit.with_segments(segments)


@pytest.mark.parametrize("seed", range(4))
def test_resynthesis_equals_the_plain_loop(seed):
    rng = np.random.default_rng(seed)
    circuit = _with_measures(random_circuit(rng, 4, 80, symbolic=True)[0], rng)
    for native in ("ibm", "any"):
        for _ in range(2):  # items built, then read from the gates
            fast = resynthesize_single_qubit(circuit, native)
            assert repr(fast.segments) == repr(_resynthesize_reference(circuit, native).segments)


def test_run_items_are_the_numeric_key():
    g = Gate("u3", (0,), (Angle(0.5), Angle(-0.0), Angle(1.0)))
    assert _run_item(g) == ("u3", (0.5, -0.0, 1.0)) and _run_item(g) is _run_item(g)
    assert _run_item(Gate("rz", (0,), (Angle.symbol("a"),))) is None
    assert _run_item(Gate("h", (0,))) == ("h", ())
    assert not _no_negative_zero(g.angles)


def test_circuits_reject_qubits_out_of_range():
    for ops in ([Gate("h", (3,))], [Gate("cx", (0, -1))], [Gate("h", (0,)), Measure((5,))], [Measure((-1,))]):
        with pytest.raises(ValueError, match="outside"):
            Circuit(3, [Segment("a", ops)])
    Circuit(3, [Segment("a", [Gate("cx", (0, 2)), Measure((0, 1, 2))]), Segment("b", [])])


@pytest.mark.parametrize("seed", range(6))
def test_cancel_figures_are_the_measured_ones(seed):
    rng = np.random.default_rng(seed)
    for circuit in (
        _rz_chains(rng, 3, 120),
        _with_measures(_rz_chains(rng, 4, 120), rng),
        _with_measures(random_circuit(rng, 5, 80, symbolic=True)[0], rng),
    ):
        out, figures = cancel_with_figures(circuit)
        assert figures == two_qubit_gates_and_depth(out)


class _Pass:
    """A pass module stand-in: ``run`` applies ``fn``; ``preserves`` sets the promise."""

    def __init__(self, name, fn, preserves=False, report=None):
        self.__name__, self.fn, self.report = name, fn, report
        if preserves:
            self.PRESERVES_CIRCUIT = True

    def run(self, circuit, ctx):
        out = self.fn(circuit)
        if self.report is not None:
            ctx.properties[FIGURES] = (self.report(out), (-1, -1))
        return out


def _drop_last_gate_in_place(circuit):
    circuit.segments[-1].ops.pop()
    return circuit


def test_records_reuse_figures_only_when_promised_or_reported():
    ctx = PassContext(resolve_target("line:4"))
    circuit = Circuit(4, [Segment("a", [Gate("cx", (0, 1)), Gate("cx", (1, 2)), Gate("h", (3,))])])
    passes = [
        _Pass("same", lambda c: c, preserves=True),  # figures reused
        _Pass("in_place", _drop_last_gate_in_place),  # same object, changed: measured
        _Pass("reports", lambda c: c.with_segments(list(c.segments)), report=lambda out: out),  # reported
        _Pass("stale", lambda c: c.with_segments(list(c.segments)), report=lambda out: circuit),  # another object
    ]
    ctx.properties[FIGURES] = (circuit, (7, 7))  # held for the input: only "same" may take them
    records = []
    PassManager(passes).run(circuit, ctx, records)
    assert [(r.two_qubit_gates, r.depth) for r in records] == [(7, 7), (2, 2), (-1, -1), (2, 2)]


@pytest.mark.parametrize(
    ("target", "path"), [("ibm-torino", "synthesis"), ("ibm-torino", "generic"), ("grid:4x4", "generic")]
)
def test_pass_records_equal_measuring_every_pass(target, path):
    cfg = HQViTConfig(image=(8, 8), patch=(4, 4))
    logical, t = build_attention_circuit(cfg), resolve_target(target)
    passes = preset_passes(2, t, path) + [schedule, serialize_crosstalk]

    def context():
        return PassContext(t, device=t, seed=0, options={**PRESETS[2], "alap": True})

    records = []
    PassManager(passes).run(logical, context(), records)
    ctx, circuit, measured = context(), logical, []
    for p in passes:
        circuit = p.run(circuit, ctx)
        measured.append((p.__name__.rsplit(".", 1)[-1], *two_qubit_gates_and_depth(circuit)))
    assert [(r.name, r.two_qubit_gates, r.depth) for r in records] == measured


@pytest.mark.parametrize("seed", range(6))
def test_resynthesis_figures_are_the_measured_ones(seed):
    rng = np.random.default_rng(seed)
    circuit = _with_measures(random_circuit(rng, 5, 120, symbolic=bool(seed % 2))[0], rng)
    for native in ("ibm", "any"):
        out, figures = resynthesize_with_figures(circuit, native)
        assert figures == two_qubit_gates_and_depth(out)


def test_best_of_reuses_figures_only_for_the_circuit_last_recorded():
    ctx = PassContext(resolve_target("line:4"))
    base = Circuit(3, [Segment("a", [Gate("cx", (0, 1)), Gate("cx", (1, 2)), Gate("h", (0,))])])
    # reports made-up figures for its result: a record that shows them took them, not a walk
    copy = _Pass("copy", lambda c: c.with_segments(list(c.segments)), report=lambda out: out)

    def recorded():
        return PassManager([copy]).run(base, ctx, [])

    def changed_after_the_records():
        circuit = recorded()
        return circuit.with_segments([Segment("a", circuit.segments[0].ops[:1])])

    scores = {}
    candidates = [("recorded", recorded), ("changed", changed_after_the_records)]
    best, record = best_of(
        "best",
        candidates,
        score=lambda c: scores.setdefault(id(c), -len(scores)),
        records_of=lambda c: [],
        circuit_of=lambda c: c,
    )
    figures = [(r.two_qubit_gates, r.depth) for r in record.children]
    assert figures == [(-1, -1), (1, 1)]
    assert (record.two_qubit_gates, record.depth) == (-1, -1)  # the best's, "recorded"


@pytest.mark.parametrize("seed", range(4))
def test_cancel_replays_merges_without_falling_back(seed, monkeypatch):
    # the exact replay agrees with the kernel on these chains, so the reference never runs
    rng = np.random.default_rng(seed)
    circuits = [_rz_chains(rng, 3, 120) for _ in range(3)]
    expected = [cancel_and_merge_reference(c) for c in circuits]

    def no_fallback(circuit):
        raise AssertionError("fell back to the reference")

    monkeypatch.setattr(cancel_module, "cancel_and_merge_reference", no_fallback)
    for circuit, reference in zip(circuits, expected, strict=True):
        assert repr(cancel_and_merge(circuit).segments) == repr(reference.segments)


def test_shared_merged_rotations_keep_the_constant_as_given():
    for const in (0.5, np.float64(0.5), 0.0, -0.0, np.float64(-0.0), math.pi):
        made = cancel_module._numeric_gate("rz", (1,), const)
        assert repr(made) == repr(Gate("rz", (1,), (Angle(const),)))
        assert cancel_module._numeric_gate("rz", (1,), const) is made
    assert cancel_module._numeric_gate("rz", (0,), 0.5) != cancel_module._numeric_gate("rz", (1,), 0.5)


def _expand_swaps_reference(circuit: Circuit) -> Circuit:
    """SWAP expansion op by op, the orientation searched as the pass documents it."""
    segments = []
    for seg in circuit.segments:
        ops, out = list(seg.ops), []
        for i, op in enumerate(ops):
            if not (isinstance(op, Gate) and op.name == "swap"):
                out.append(op)
                continue
            a, b = op.qubits
            orient = (a, b)
            for j in list(range(i + 1, min(len(ops), i + 8))) + list(range(i - 1, max(-1, i - 8), -1)):
                n = ops[j]
                if isinstance(n, Gate) and n.name == "cx" and set(n.qubits) == {a, b}:
                    orient = n.qubits
                    break
            c, t = orient
            out += [Gate("cx", (c, t)), Gate("cx", (t, c)), Gate("cx", (c, t))]
        segments.append(Segment(seg.name, out))
    return circuit.with_segments(segments)


def _swap_heavy(rng, n: int, length: int, to_qubit=int) -> Circuit:
    """SWAPs and CNOTs on a few pairs (both orientations) with other gates and measurements."""
    ops = []
    for _ in range(length):
        a, b = (to_qubit(x) for x in rng.choice(n, 2, replace=False))
        ops.append(
            [Gate("swap", (a, b)), Gate("cx", (a, b)), Gate("h", (a,)), Measure((a,))][
                rng.choice(4, p=[0.4, 0.4, 0.15, 0.05])
            ]
        )
    return Circuit(n, [Segment("a", ops[: length // 3]), Segment("b", ops[length // 3 :]), Segment("c", [])])


@pytest.mark.parametrize("seed", range(6))
def test_swap_expansion_equals_the_op_by_op_loop(seed):
    rng = np.random.default_rng(seed)
    for to_qubit in (int, np.int64):
        circuit = _swap_heavy(rng, 4, 90, to_qubit)
        assert repr(expand_swaps(circuit).segments) == repr(_expand_swaps_reference(circuit).segments)


def test_shared_gates_are_only_for_python_int_qubits():
    # numpy integers equal ints (and hash alike) but print differently: a shared gate would change the output
    for gate in ("cx", "swap"):
        circuit = Circuit(3, [Segment("a", [Gate(gate, (0, 2)), Gate(gate, (np.int64(0), np.int64(2)))])])
        fresh = [
            g.on(tuple(op.qubits[i] for i in g.qubits))
            for op in circuit.segments[0].ops
            for g in two_qubit_template(gate, "ecr")
        ]
        assert repr(translate_two_qubit(circuit, "ecr").segments[0].ops) == repr(fresh)
    numpy_rz = [Gate("rz", (np.int64(1),), (Angle(0.25),)), Gate("rz", (np.int64(1),), (Angle(0.5),))]
    int_rz = [Gate("rz", (1,), (Angle(0.25),)), Gate("rz", (1,), (Angle(0.5),))]
    for ops in (int_rz, numpy_rz, int_rz):
        circuit = Circuit(2, [Segment("a", ops)])
        assert repr(cancel_and_merge(circuit).segments) == repr(cancel_and_merge_reference(circuit).segments)


def test_lowering_is_shared_only_for_equal_plain_operations():
    cfg = HQViTConfig(image=(8, 8), patch=(4, 4))
    logical = build_attention_circuit(cfg)
    fresh = [Segment(s.name, [g for op in s.ops for g in lower_op(op)]) for s in logical.segments]
    assert repr(lower(logical).segments) == repr(fresh)
    assert repr(lower(logical).segments) == repr(fresh)  # from the cache
    numpy_ansatz = Ansatz(tuple(np.int64(q) for q in range(3)), 2, "w")
    plain = Circuit(3, [Segment("t", [Ansatz((0, 1, 2), 2, "w")])])
    numpy = Circuit(3, [Segment("t", [numpy_ansatz])])
    lower(plain)
    assert repr(lower(numpy).segments[0].ops) == repr(lower_op(numpy_ansatz))
