"""Dynamical decoupling: equivalence on every target family, only in windows long enough, the
selective mode's estimate (closed forms, never worse than no DD), schedule / ESP consistency."""

import math
from collections import Counter
from dataclasses import replace
from functools import cache

import numpy as np
import pytest

from hqvit.cli.compile import DD_MODES
from hqvit.cli.main import main
from hqvit.compiler.hqvit import HQViTConfig
from hqvit.compiler.pipeline import compile_hqvit
from hqvit.ir.angles import Angle
from hqvit.ir.circuit import Circuit, Gate, Measure, Segment
from hqvit.ir.gates import matrix
from hqvit.passes import dynamical_decoupling
from hqvit.passes.base import PassContext
from hqvit.passes.dd_sequences import XX, XY4, pulse_gates, shifted, staggered
from hqvit.passes.dd_timeline import Timeline
from hqvit.passes.dynamical_decoupling import choose, total_estimate
from hqvit.passes.schedule import schedule_asap
from hqvit.targets import resolve_target
from tests.helpers import COMPILED_ATOL, assert_equivalent

SMALL = HQViTConfig((4, 4), (2, 2), layers=1)
FAMILIES = [
    "line:9@zz=80,t2star_ratio=0.5",
    "grid:3x3@zz=80,t2star_ratio=0.5",
    "ibm-sherbrooke",
    "ibm-torino",
    "sycamore23",
    "ionq-aria",
]
MODES = ["xx", "xy4", "staggered", "auto"]


@cache
def _compiled(name: str):
    return compile_hqvit(SMALL, resolve_target(name), opt=1)


def _decoupled(cc, mode: str):
    ctx = PassContext(cc.target, options={"dd": mode}, properties={"schedule": cc.schedule})
    circuit = dynamical_decoupling.run(cc.circuit, ctx)
    return replace(cc, circuit=circuit, schedule=ctx.properties["schedule"], dd=ctx.properties.get("dd"))


def _pi_pulse_sequences():
    return [XX, XY4, shifted(XX), shifted(XY4)] + [staggered(c) for c in range(6)]


@pytest.mark.parametrize("native", ["line:1", "ibm-torino"])
def test_every_sequence_multiplies_to_the_identity_in_native_gates(native):
    target = resolve_target(native)
    for seq in _pi_pulse_sequences():
        u = np.eye(2, dtype=complex)
        for axis in seq.axes:
            for g in pulse_gates(axis, 0, target):
                assert g.name in target.one_qubit_gates
                u = matrix(g) @ u
        assert abs(abs(u[0, 0]) - 1) < 1e-12 and np.allclose(u, u[0, 0] * np.eye(2)), seq.name


def _toggling(fractions, grid: int = 4096) -> np.ndarray:
    t = (np.arange(grid) + 0.5) / grid
    flips = (t[:, None] > np.array(fractions)[None, :]).sum(axis=1)
    return np.where(flips % 2, -1.0, 1.0)


def test_staggered_sequences_are_zero_mean_and_mutually_orthogonal():
    seqs = [staggered(c) for c in range(6)]
    s = [_toggling(q.fractions) for q in seqs]
    for i, a in enumerate(s):
        assert abs(a.mean()) < 1e-12, seqs[i].name
        for j in range(i):
            assert abs((a * s[j]).mean()) < 1e-12, (seqs[i].name, seqs[j].name)
    # a sequence against itself refocuses nothing of the pair's ZZ; its shifted partner does
    assert (_toggling(XX.fractions) ** 2).mean() == 1
    assert abs((_toggling(XY4.fractions) * _toggling(shifted(XY4).fractions)).mean()) < 1e-12


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", FAMILIES)
def test_decoupled_circuits_are_equivalent_on_every_family(name, mode):
    if name.startswith("sycamore"):
        pytest.importorskip("cirq_google")
    cc = _compiled(name)
    dd = _decoupled(cc, mode)
    # a random input state: an inserted block that is not the identity moves it
    assert_equivalent(dd, trials=1, atol=COMPILED_ATOL, exact=False)  # the circuit, through both layouts
    rng = np.random.default_rng(0)
    values = {s: float(rng.uniform(-3, 3)) for s in cc.circuit.symbols}
    # the moment-structured export the noisy simulator runs, against the undecoupled circuit
    scheduled, plain = dd.to_cirq(values, measurements=False), cc.to_cirq(values, measurements=False)
    assert_equivalent(scheduled, plain, exact=False)
    added = Counter(dd.circuit.gates()) - Counter(cc.circuit.gates())
    assert all(g.name in cc.target.one_qubit_gates for g in added)
    if mode != "auto" and not name.startswith("ionq"):
        assert dd.dd["windows"] > 0
    _assert_offsets_keep_the_timing(cc, dd)
    if name == "ibm-sherbrooke":  # pulses inside long moments (mid-ECR echoes, ideal times)
        assert dd.schedule.offsets


def _assert_offsets_keep_the_timing(cc, dd) -> None:
    """Only DD gates start inside their moment, each ends within it, the moments list their
    operations in order of start, and no moment got longer."""
    tl = Timeline(dd.schedule.moments, (), dd.schedule.num_qubits, dd.target)
    for (k, q), o in dd.schedule.offsets.items():
        (g,) = [g for g in dd.schedule.moments[k] if q in g.qubits]
        assert g not in cc.schedule.moments[k] and g.qubits == (q,)
        assert 0 < o and o + dd.target.gate_duration(g.name, g.qubits) <= tl.duration[k] + 1e-9
    for k, m in enumerate(dd.schedule.moments):
        starts = [dd.schedule.offset(k, g.qubits[0]) for g in m]
        assert starts == sorted(starts)
    before = Timeline(cc.schedule.moments, (), cc.schedule.num_qubits, cc.target)
    assert np.array_equal(tl.duration, before.duration)


@pytest.mark.parametrize("mode", MODES)
def test_schedule_and_esp_stay_consistent(mode):
    cc = _compiled("ibm-sherbrooke")
    dd = _decoupled(cc, mode)
    by_qubit = lambda gates: {q: [g for g in gates if q in g.qubits] for q in range(cc.target.num_qubits)}  # noqa: E731
    assert by_qubit([g for m in dd.schedule.moments for g in m]) == by_qubit(list(dd.circuit.gates()))
    before, after = Timeline(cc.schedule.moments, (), 127, cc.target), Timeline(dd.schedule.moments, (), 127, cc.target)
    assert np.array_equal(before.duration, after.duration)  # no moment got longer
    added = Counter(dd.circuit.gates()) - Counter(cc.circuit.gates())
    factor = math.prod((1 - cc.target.gate_error(g.name, g.qubits)) ** k for g, k in added.items())
    s0, s1 = cc.success_probability(), dd.success_probability()
    assert s1["duration_ns"] == s0["duration_ns"]
    assert s1["esp_gates"] == pytest.approx(s0["esp_gates"] * factor, rel=1e-12)
    assert dd.report()["dd"] == dd.dd and dd.dd["pulses"] <= dd.dd["gates"] == sum(added.values())


def _idle_circuit(busy: list[str], target_name: str):
    """Qubits 0 and 1 get an H, then idle while qubit 2 plays ``busy`` (one gate a moment);
    everything is measured. Returns the circuit, its ASAP schedule and the target."""
    t = resolve_target(target_name)
    half = (Angle(math.pi / 2),)
    ops = [Gate("ry", (q,), half) for q in range(3)] + [Gate(n, (2,), half) for n in busy]
    circuit = Circuit(3, [Segment("main", ops + [Measure((0, 1, 2))])])
    return circuit, schedule_asap(circuit), t


def _run(circuit, schedule, target, mode):
    ctx = PassContext(target, options={"dd": mode}, properties={"schedule": schedule})
    out = dynamical_decoupling.run(circuit, ctx)
    return out, ctx.properties["schedule"], ctx.properties.get("dd")


@pytest.mark.parametrize(
    "busy,mode,inserted",
    [
        (["rx"], "xx", 0),  # one free moment: no room for two pulses
        (["rx", "rx"], "xx", 2),
        (["rx", "rx", "rx"], "xy4", 0),
        (["rx"] * 4, "xy4", 4),
        (["rx", "rz", "rz", "rz", "rx"], "xx", 2),  # rz moments last 0 ns: no pulse fits there
        (["rz", "rz", "rz", "rz", "rx"], "xx", 0),
    ],
)
def test_only_windows_long_enough_get_dd(busy, mode, inserted):
    circuit, schedule, t = _idle_circuit(busy, "line:3@zz=100")
    t = replace(t, virtual_z=True)
    out, sched, dd = _run(circuit, schedule, t, mode)
    count = lambda c: Counter(q for g in c.gates() for q in g.qubits)  # noqa: E731
    per_qubit = count(out) - count(circuit)
    assert per_qubit[0] == per_qubit[1] == inserted and per_qubit[2] == 0
    tl = Timeline(sched.moments, (), 3, t)
    for k, m in enumerate(sched.moments):
        for g in m:
            assert t.gate_duration(g.name, g.qubits) <= tl.duration[k]
    assert np.array_equal(tl.duration, Timeline(schedule.moments, (), 3, t).duration)
    assert_equivalent(out, circuit, exact=True)


def test_estimate_closed_forms_for_an_idle_pair():
    zeta_khz, d1 = 100.0, 40.0
    circuit, schedule, t = _idle_circuit(["rx"] * 5, f"line:3@zz={zeta_khz},t2star=20,d1={d1}")
    tl = Timeline(schedule.moments, (0, 1, 2), 3, t)
    w0 = next(w for w in tl.windows if w.qubit == 0 and w.live)
    tau, c = 5 * d1, 2 * math.pi * zeta_khz * 1e-6 / 4
    sigma = t.quasi_static_sigma()[0]
    terms = tl.terms(w0, None)
    # qubit 0 idles 200 ns beside qubit 1 (idle): one stretch of ZZ, and its own mean-field
    # rotation c * tau plus the Ramsey-like quasi-static decay
    assert terms.stretches == pytest.approx(math.sin(c * tau) ** 2, rel=1e-12)
    assert terms.pieces == 0
    assert terms.local == pytest.approx(0.5 * (1 - math.cos(2 * c * tau) * math.exp(-((sigma * tau) ** 2) / 2)))
    # qubit 1 also sees qubit 2's five rx gates: one piece each
    w1 = next(w for w in tl.windows if w.qubit == 1 and w.live)
    assert tl.terms(w1, None).pieces == pytest.approx(5 * math.sin(c * d1) ** 2, rel=1e-12)
    # XX on qubit 0 alone: its own rotation is refocused to what the moment grid leaves
    p = tl.place(w0, XX)
    assert p is not None and p.moments == [2, 4]  # pulse centres nearest tau / 4 and 3 tau / 4
    assert tl.terms(w0, p).local < 0.1 * terms.local


def _echo_circuit(long_gates: int, tail: list[str], head: tuple[str, ...] = ()):
    """Qubits 0, 1, 2 in a line with 100 kHz ZZ; after a ry on each (and ``head`` on qubit 2),
    qubit 1 plays ``long_gates`` 400 ns cz with qubit 2, then qubit 2 plays ``tail`` (40 ns
    gates); all measured."""
    t = resolve_target("line:3@zz=100,t2star=20,d1=40,d2=400,gate=cz")
    half = (Angle(math.pi / 2),)
    ops = [Gate("ry", (q,), half) for q in range(3)] + [Gate(n, (2,), half) for n in head]
    ops += [Gate("cz", (1, 2))] * long_gates
    ops += [Gate(n, (2,), half) for n in tail]
    circuit = Circuit(3, [Segment("main", ops + [Measure((0, 1, 2))])])
    return circuit, schedule_asap(circuit), t


def test_echo_in_the_middle_of_a_neighbours_long_gate_refocuses_its_zz():
    """Qubit 0 idles beside qubit 1's two 400 ns cz: without DD each leaves the ZZ piece
    sin^2(c 400) and the mean-field rotation c 800; an X centred in each cz (offset
    (400 - 40) / 2 = 180) makes int s dt zero over each, so both terms vanish exactly, and the
    pass writes the offsets into the schedule."""
    circuit, schedule, t = _echo_circuit(2, [])
    tl = Timeline(schedule.moments, (0, 1, 2), 3, t)
    w0 = next(w for w in tl.windows if w.qubit == 0)
    c = 2 * math.pi * 100e-6 / 4
    bare = tl.terms(w0, None)
    assert bare.pieces == pytest.approx(2 * math.sin(c * 400) ** 2, rel=1e-12)
    assert tl.echo_moments(w0) == [(1, 200.0), (2, 200.0)]
    p = tl.place_echo(w0, "none")
    assert p.moments == [1, 2] and p.offsets == [180.0, 180.0]
    echoed = tl.terms(w0, p)
    assert echoed.pieces == 0 and echoed.local == pytest.approx(0, abs=1e-15)
    assert echoed.delta_weight < bare.delta_weight
    # a pulse at the moment's start (the old placement) leaves the pieces of the 360 ns after it
    start = replace(p, offsets=[0.0, 0.0])
    assert tl.terms(w0, start).pieces == pytest.approx(2 * math.sin(c * 360) ** 2, rel=1e-12)
    out, sched, dd = _run(circuit, schedule, t, "auto")
    assert sched.offsets == {(1, 0): 180.0, (2, 0): 180.0}
    assert dd["error_estimate"]["with"] < dd["error_estimate"]["without"]
    assert_equivalent(out, circuit, exact=True)


@pytest.mark.parametrize(
    "long_gates,drop,moments,offsets,head",
    [
        (3, "none", [1, 2, 3, 4], [180.0, 180.0, 180.0, 0.0], ()),  # 4th fills the 40 ns moment
        (2, "first", [1, 2], [160.0, 180.0], ()),  # 2 o - 360 + 40 = 0 in the unechoed cz's moment
        (2, "last", [1, 2], [180.0, 200.0], ()),  # -(2 o - 360) + 40 = 0
        # a 40 ns moment first (idle, +): 40 - (2 o - 360) + 40 = 0 in the cz's moment; a pulse
        # filling the 40 ns moment instead would leave 400 + 40
        (2, "last", [2, 3], [180.0, 220.0], ("rx",)),
    ],
)
def test_an_odd_number_of_echoes_gets_a_balancing_pulse(long_gates, drop, moments, offsets, head):
    """Echoes in the middle of the cz moments, then a 40 ns moment (qubit 0 idles in it with the
    sign left by the pulses before). An odd count gets one more pulse, at the free moment and
    offset o where int s dt over the window vanishes (closed forms in the cases), so the
    detuning and the mean-field ZZ are refocused with the echoed pieces."""
    circuit, schedule, t = _echo_circuit(long_gates, ["rx"], head)
    tl = Timeline(schedule.moments, (0, 1, 2), 3, t)
    w0 = next(w for w in tl.windows if w.qubit == 0)
    first = 1 + len(head)
    assert [k for k, _ in tl.echo_moments(w0)] == list(range(first, first + long_gates))
    p = tl.place_echo(w0, drop)
    assert p.moments == moments and p.offsets == pytest.approx(offsets, abs=1e-9)
    assert tl.terms(w0, p).local == pytest.approx(0, abs=1e-15)


def test_pulses_in_the_middle_of_each_constant_stretch_stagger_against_a_neighbour():
    """Qubits 0 and 1 idle while 2 and 3 play four 400 ns cz (moments 1-4 from t = 40 ns);
    qubit 1 has X pulses at the starts of moments 1 and 4 ([40, 80) and [1240, 1280)). Both-idle
    ZZ of the pair without DD on qubit 0: -360 - 400 - 400 + 360 = -800 ns of s_0 s_1. Qubit 0's
    stretches of constant neighbour are [80, 1240) and [1280, 1640); its pulses centred at 660
    and 1460 (offsets 200 in moments 2 and 4) zero int s_0 s_1 over each, and int s_0 dt =
    600 - 760 + 160 = 0 as well."""
    t = resolve_target("line:4@zz=100,t2star=20,d1=40,d2=400,gate=cz")
    half = (Angle(math.pi / 2),)
    ops = [Gate("ry", (q,), half) for q in range(4)] + [Gate("cz", (2, 3))] * 4
    circuit = Circuit(4, [Segment("main", ops + [Measure((0, 1, 2, 3))])])
    tl = Timeline(schedule_asap(circuit).moments, (0, 1, 2, 3), 4, t)
    w0, w1 = (next(w for w in tl.windows if w.qubit == q) for q in (0, 1))
    x1 = pulse_gates("X", 1, t)
    tl.apply(w1, tl._placement([(1, 0.0, x1), (4, 0.0, x1)]))
    c = 2 * math.pi * 100e-6 / 4
    assert tl.terms(w0, None).stretches == pytest.approx(math.sin(c * 800) ** 2, rel=1e-12)
    p = tl.place_segments(w0, 160.0)
    assert p.moments == [2, 4] and p.offsets == pytest.approx([200.0, 200.0], abs=1e-9)
    terms = tl.terms(w0, p)
    assert terms.stretches == pytest.approx(0, abs=1e-15) and terms.local == pytest.approx(0, abs=1e-15)
    # stretches shorter than min_len get nothing: only [80, 1240) and a balancing pulse
    q = tl.place_segments(w0, 500.0)
    assert len(q.gates) == 2 and q.moments[0] == 2


def test_a_neighbour_still_in_zero_causes_no_zz():
    t = resolve_target("line:3@zz=500")
    half = (Angle(math.pi / 2),)
    for touched, expect_zz in (((0,), False), ((0, 1), True)):
        ops = [Gate("ry", (q,), half) for q in touched] + [Gate("rx", (2,), half)] * 3
        circuit = Circuit(3, [Segment("main", ops + [Measure((0, 1, 2))])])
        tl = Timeline(schedule_asap(circuit).moments, (0, 1, 2), 3, t)
        w0 = next(w for w in tl.windows if w.qubit == 0)
        terms = tl.terms(w0, None)
        assert (terms.stretches > 0) == expect_zz and (terms.local > 0) == expect_zz


@pytest.mark.parametrize("name", ["grid:3x3", "ionq-aria", "line:9@t2star_ratio=1,zz=0"])
def test_auto_inserts_nothing_where_nothing_is_refocused(name):
    cc = _compiled(name)
    dd = _decoupled(cc, "auto")
    assert dd.dd["windows"] == 0 and dd.circuit.segments == cc.circuit.segments
    assert dd.dd["error_estimate"]["without"] == dd.dd["error_estimate"]["with"] == 0


@pytest.mark.parametrize("name", ["ibm-sherbrooke", "ibm-torino", "line:9@zz=80,t2star_ratio=0.5"])
def test_auto_is_never_worse_than_no_dd_by_its_own_estimate(name):
    cc = _compiled(name)
    dd = _decoupled(cc, "auto")
    est = dd.dd["error_estimate"]
    assert est["with"] <= est["without"]
    # the reported totals are the full sums over every window, before and after
    tl = Timeline(cc.schedule.moments, cc.schedule.measured, cc.schedule.num_qubits, cc.target)
    assert total_estimate(tl, {}) == pytest.approx(est["without"], rel=1e-12)
    chosen, _ = choose(tl, "auto")
    assert total_estimate(tl, chosen) == pytest.approx(est["with"], rel=1e-9, abs=1e-12)
    if name == "ibm-sherbrooke":
        assert dd.dd["windows"] > 0 and est["with"] < 0.5 * est["without"]


def test_changing_one_window_changes_the_total_by_what_auto_compares():
    """The bookkeeping behind "never worse": the total estimate moves by exactly the change in
    the window's ``delta_weight`` (shared stretches counted from both sides)."""
    cc = _compiled("ibm-sherbrooke")
    tl = Timeline(cc.schedule.moments, cc.schedule.measured, cc.schedule.num_qubits, cc.target)
    total = lambda: sum(tl.terms(w, current.get(w)).total_weight for w in tl.windows)  # noqa: E731
    current: dict = {}
    rng = np.random.default_rng(1)
    eligible = [w for w in tl.windows if w.live and w.end > w.first + 1]
    before, changes = total(), 0
    for w in [eligible[i] for i in rng.permutation(len(eligible))[:12]]:
        i = rng.integers(6)  # the fixed sequences, the mid-gate echo, the stagger (offset pulses)
        if i < 4:
            p = tl.place(w, [XX, XY4, shifted(XX), shifted(XY4)][i])
        else:
            p = tl.place_echo(w, "none") if i == 4 else tl.place_segments(w, 200.0)
        old, new = tl.terms(w, current.get(w)).delta_weight, tl.terms(w, p).delta_weight
        tl.apply(w, p)
        current[w] = p
        after = total()
        assert after - before == pytest.approx(new - old, abs=1e-9)
        before, changes = after, changes + (p is not None)
    assert changes > 4


def test_compile_applies_dd_through_the_pipeline_and_the_cli(capsys):
    cc = compile_hqvit(SMALL, resolve_target("ibm-sherbrooke"), opt=1, dd="auto")
    assert cc.dd["windows"] > 0 and cc.passes[-1].name == "dynamical_decoupling"
    assert_equivalent(cc, trials=1, atol=COMPILED_ATOL)
    args = ["compile", "--image", "4x4", "--patch", "2x2", "--layers", "1", "--opt", "1"]
    assert main([*args, "--target", "ibm-sherbrooke", "--dd", "auto", "--json"]) == 0
    assert '"dd": {"mode": "auto"' in capsys.readouterr().out
    assert main([*args, "--dd", "xy4"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--dd" in err[0] and "--target" in err[0]
    with pytest.raises(SystemExit) as exit_:  # argparse's choices, reported by cli/main's parser
        main([*args, "--target", "line:9", "--dd", "sometimes"])
    assert exit_.value.code == 2 and "argument --dd: invalid choice" in capsys.readouterr().err
    assert DD_MODES == dynamical_decoupling.MODES
