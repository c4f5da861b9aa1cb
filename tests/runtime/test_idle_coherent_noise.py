"""Coherent idle noise in the batched trajectory engine against closed forms (issue 15, part 2).

Engine level: hand-built operation lists in the form ``noisy_operations`` produces ("gate",
"channel", "zz", "detuning"), so each closed form is exact for the circuit simulated:

- Ramsey (H, idle t, H) with T1 / Tphi damping and a quasi-static detuning: <Z> at the end is
  the idle coherence, exp(-t/T2) E[cos(delta t)] = exp(-t/T2 - sigma^2 t^2 / 2);
- Hahn echo (H, t/2, X, t/2, H): the detuning's phase reverses sign at the X, so <Z> = exp(-t/T2);
- static ZZ: a Ramsey on qubit 0 gains the phase zeta t only with qubit 1 in |1>.

Compiled level: on a real compile (ibm-sherbrooke, digits circuit's smallest sibling) the idle
terms appear where the target gives them, and ``@zz=0,t2star_ratio=1`` gives the very program
and trajectories of the engine without the terms.
"""

from __future__ import annotations

import math

import cirq
import numpy as np
import pytest

from hqvit.compiler.hqvit import HQViTConfig
from hqvit.compiler.pipeline import compile_hqvit
from hqvit.ir.circuit import Gate
from hqvit.runtime import noisy_program
from hqvit.runtime.batched_trajectories import BatchedTrajectories
from hqvit.runtime.noisy_attention import NoisyAttention
from hqvit.runtime.noisy_program import build_program
from hqvit.targets import resolve_target

LINE = cirq.LineQubit.range(2)
T1, T2 = 30_000.0, 20_000.0  # ns
TPHI = 1.0 / (1.0 / T2 - 0.5 / T1)


def damping(q: int, t: float) -> list[tuple]:
    """The noise model's idle channels for t ns on qubit q (coherence exp(-t/T2) overall)."""
    return [
        ("channel", cirq.amplitude_damp(1.0 - math.exp(-t / T1)).on(LINE[q])),
        ("channel", cirq.phase_damp(1.0 - math.exp(-2.0 * t / TPHI)).on(LINE[q])),
    ]


def z_expectation(ops: list[tuple], qubit: int, rows: int, seed: int = 0) -> tuple[float, float]:
    """Mean and standard error of <Z_qubit> over ``rows`` trajectories of the two-qubit ``ops``."""
    engine = BatchedTrajectories(build_program(ops, 2, LINE, [], 0))
    probs = engine.run(np.zeros((1, 0)), rows, np.random.default_rng(seed))[0][0]  # (R, 4)
    sign = np.array([1, 1, -1, -1] if qubit == 0 else [1, -1, 1, -1])
    z = probs @ sign
    return float(z.mean()), float(z.std(ddof=1) / math.sqrt(rows))


SIGMA = math.sqrt(2.0 * (1.0 - 0.5) / 10_000.0**2)  # T2* = 10 us against T2 = 20 us


@pytest.mark.parametrize("t", [4_000.0, 10_000.0, 16_000.0])
def test_ramsey_decays_as_exponential_times_gaussian(t):
    ops = [("gate", Gate("h", (0,)))]
    ops += [("detuning", (0, t, SIGMA))] + damping(0, t) + [("gate", Gate("h", (0,)))]
    mean, se = z_expectation(ops, 0, 4000)
    want = math.exp(-t / T2 - SIGMA**2 * t**2 / 2)
    assert abs(mean - want) < 5 * se + 1e-3, (mean, want, se)
    # and it is not the echo's envelope: the quasi-static part is visible at this t
    assert abs(want - math.exp(-t / T2)) > 5 * se


@pytest.mark.parametrize("t", [10_000.0, 16_000.0])
def test_hahn_echo_refocuses_the_quasi_static_part(t):
    half = t / 2
    ops = [("gate", Gate("h", (0,)))]
    ops += [("detuning", (0, half, SIGMA))] + damping(0, half) + [("gate", Gate("x", (0,)))]
    ops += [("detuning", (0, half, SIGMA))] + damping(0, half) + [("gate", Gate("h", (0,)))]
    mean, se = z_expectation(ops, 0, 2000)
    # X maps the coherence rho_01 to its conjugate, so the detuning's phase of the first half is
    # undone by the second; <Z> after the final H is 2 Re rho_01 = exp(-t/T2) (damping alone)
    want = math.exp(-t / T2)
    assert abs(mean - want) < 5 * se + 1e-3, (mean, want, se)


@pytest.mark.parametrize("neighbour", [0, 1])
def test_static_zz_phase_only_with_the_neighbour_in_one(neighbour):
    zeta = 2 * math.pi * 60e-6  # 60 kHz in rad/ns
    t = 3_000.0
    ops = [("gate", Gate("h", (0,)))] + ([("gate", Gate("x", (1,)))] if neighbour else [])
    ops += [("zz", (0, 1, zeta * t)), ("gate", Gate("h", (0,)))]
    mean, _ = z_expectation(ops, 0, 4)
    # noiseless: <Z> after H exp(-i phi |1><1|) H is cos(phi), phi = zeta t with the neighbour in |1>
    assert mean == pytest.approx(math.cos(zeta * t) if neighbour else 1.0, abs=1e-6)


CFG = HQViTConfig((4, 4), (2, 2), layers=1)


def trajectories(target: str, terms: bool = True) -> tuple[object, np.ndarray]:
    """The engine's program and 16 trajectories on a fixed binding; ``terms=False`` builds the
    program with the idle terms removed from ``noisy_operations`` (the engine without them)."""
    compiled = compile_hqvit(CFG, resolve_target(target), opt=1, seed=0)
    original = noisy_program.idle_coherent_operations
    if not terms:
        noisy_program.idle_coherent_operations = lambda *a: [[] for _ in compiled.schedule.moments]
    try:
        noisy = NoisyAttention(CFG, compiled, 1.0, trajectories=2)
    finally:
        noisy_program.idle_coherent_operations = original
    symbols = np.random.default_rng(0).uniform(-np.pi, np.pi, len(noisy.symbols))
    probs = noisy.engine.run(symbols[None], 16, np.random.default_rng(3))[0][0]
    return noisy.program, probs


def test_terms_on_by_default_where_the_target_gives_them():
    program, with_terms = trajectories("ibm-sherbrooke")
    _, without = trajectories("ibm-sherbrooke", terms=False)
    assert len(program.qs_mix) > 0 and (program.qs_sigma > 0).any()
    assert not np.array_equal(with_terms, without)


def test_switched_off_terms_leave_the_engine_bit_identical():
    program, off = trajectories("ibm-sherbrooke@zz=0,t2star_ratio=1")
    reference_program, before = trajectories("ibm-sherbrooke@zz=0,t2star_ratio=1", terms=False)
    assert len(program.qs_mix) == 0
    assert np.array_equal(program.fixed, reference_program.fixed)
    assert np.array_equal(program.block_qubits, reference_program.block_qubits)
    assert np.array_equal(off, before)
    # and the overrides only touch the idle terms: same as the target without them
    _, plain = trajectories("ibm-sherbrooke", terms=False)
    assert np.array_equal(off, plain)


@pytest.mark.parametrize("dd", ["none", "auto"])
def test_detuning_windows_are_the_damping_windows(monkeypatch, dd):
    """Per qubit, the quasi-static phase accrues over exactly the idle time the T1 damping
    channels stand for (sum of -T1 log(1 - gamma)): the two terms share part 1's windows
    (per moment, before ``coalesce_idle_phases`` merges them and drops the tail), also where DD
    pulses start inside their moment and cut the detuning in two."""
    monkeypatch.setattr(noisy_program, "coalesce_idle_phases", lambda ops, index: ops)
    target = resolve_target("ibm-sherbrooke")
    compiled = compile_hqvit(CFG, target, opt=1, seed=0, dd=dd)
    assert bool(compiled.schedule.offsets) == (dd == "auto")
    noisy = NoisyAttention(CFG, compiled, 1.0, trajectories=2)
    ops = noisy_program.noisy_operations(compiled, noisy.noise, noisy.remap, noisy.line)
    t1 = target.decoherence_ns()[0]
    physical = {i: p for p, i in noisy.remap.items()}
    idle = np.zeros(noisy.n)
    detuned = np.zeros(noisy.n)
    for kind, op in ops:
        if kind == "channel" and isinstance(op.gate, cirq.AmplitudeDampingChannel):
            q = op.qubits[0].x
            idle[q] += -t1[physical[q]] * math.log1p(-op.gate.gamma)
        elif kind == "detuning":
            detuned[op[0]] += op[1]
    assert idle.sum() > 0
    assert np.allclose(detuned, idle, rtol=1e-9, atol=1e-6)
    assert any(kind == "zz" for kind, _ in ops)


def test_gradient_through_the_idle_terms_is_the_derivative_of_the_drawn_trajectories():
    """With the draws fixed (same seed) and damping too weak to jump, every trajectory is a
    smooth function of the angles, so the engine's adjoint gradient must equal the central
    difference of its own trajectory mean: this checks that the detuning and ZZ elements sit in
    the recorded block matrices the backward sweep uses."""
    target = "all-to-all:8@t1=1e6,t2=1e6,p2=0.02,p1=0.005,zz=500,t2star=2"
    compiled = compile_hqvit(CFG, resolve_target(target), opt=1, seed=0)
    noisy = NoisyAttention(CFG, compiled, 1.0, trajectories=2)
    program, engine = noisy.program, noisy.engine
    assert len(program.qs_mix) > 0 and any(np.count_nonzero(m - np.diag(np.diag(m))) == 0 for m in program.fixed)
    symbols = np.random.default_rng(0).uniform(-np.pi, np.pi, len(noisy.symbols))
    w = np.random.default_rng(4).normal(size=1 << noisy.n)
    rows = 64

    def objective(s: np.ndarray) -> float:
        return float(engine.run(s[None], rows, np.random.default_rng(5))[0][0].mean(axis=0) @ w)

    _, tapes = engine.run(symbols[None], rows, np.random.default_rng(5), record=True)
    dl_dp = np.ascontiguousarray(np.broadcast_to(w / rows, (rows, w.shape[0])))
    grad = engine.gradient(tapes[0], engine.clean_matrices(symbols), dl_dp) @ program.table.coeff
    assert engine.stats[2] == 0  # no jump: the draws are the same at every angle
    h = 1e-2
    for k in (noisy.n_data, len(noisy.symbols) - 1):
        up, down = symbols.copy(), symbols.copy()
        up[k] += h
        down[k] -= h
        fd = (objective(up) - objective(down)) / (2 * h)
        assert grad[k] == pytest.approx(fd, rel=2e-2, abs=2e-3), (k, grad[k], fd)


def test_coalescing_leaves_every_trajectory_unchanged(monkeypatch):
    """Merging the diagonal idle phases across diagonal operations and dropping the tail is exact:
    with the same detunings (drawn first) and no other randomness that matters (no gate errors,
    damping too weak to jump), each trajectory's distribution is the per-moment program's."""
    target = "all-to-all:8@t1=1e9,t2=1e9,p2=0,p1=0,zz=500,t2star=2"
    compiled = compile_hqvit(CFG, resolve_target(target), opt=1, seed=0)
    merged = NoisyAttention(CFG, compiled, 1.0, trajectories=2)
    monkeypatch.setattr(noisy_program, "coalesce_idle_phases", lambda ops, index: ops)
    per_moment = NoisyAttention(CFG, compiled, 1.0, trajectories=2)
    assert len(merged.program.qs_mix) < len(per_moment.program.qs_mix)
    symbols = np.random.default_rng(0).uniform(-np.pi, np.pi, len(merged.symbols))
    a = merged.engine.run(symbols[None], 16, np.random.default_rng(2))[0][0]
    b = per_moment.engine.run(symbols[None], 16, np.random.default_rng(2))[0][0]
    assert merged.engine.stats[2] == 0 and per_moment.engine.stats[2] == 0
    assert np.abs(a - b).max() < 1e-5
    # and the phases matter here: the noiseless distribution is another one
    clean = NoisyAttention(CFG, compiled, 0.0, trajectories=2).engine.run(symbols[None], 1, np.random.default_rng(0))
    assert np.abs(a.mean(axis=0) - clean[0][0, 0]).max() > 1e-2


def test_detuning_phases_give_each_trajectory_its_own_exact_state():
    """The detunings are per-trajectory diagonal phases applied to the whole batch between blocks
    (not block elements): each trajectory must be the state vector of the circuit with its own
    delta (drawn first: delta = N(0, 1) * sigma), including phases whose one-qubit gates were
    still pending and a phase between two gates on the same pair."""
    from hqvit.ir.gates import gate_unitary

    line = cirq.LineQubit.range(3)
    sigma = 1e-3
    ops = [("gate", Gate("h", (q,))) for q in range(3)]
    ops += [("gate", Gate("cz", (0, 1))), ("gate", Gate("h", (0,))), ("detuning", (0, 700.0, sigma))]
    ops += [("gate", Gate("h", (0,))), ("detuning", (1, 300.0, sigma)), ("gate", Gate("cz", (0, 1)))]
    ops += [("detuning", (0, 500.0, sigma)), ("detuning", (2, 900.0, sigma)), ("gate", Gate("cz", (0, 1)))]
    ops += [("gate", Gate("cz", (1, 2))), ("detuning", (1, 400.0, sigma))]
    ops += [("gate", Gate("h", (q,))) for q in range(3)]
    program = build_program(ops, 3, line, [], 0)
    assert program.num_blocks >= 3 and len(program.ph_qubit) > 0
    rows = 24
    probs = BatchedTrajectories(program).run(np.zeros((1, 0)), rows, np.random.default_rng(7))[0][0]
    delta = np.random.default_rng(7).standard_normal((rows, 3)) * sigma

    def on(u: np.ndarray, qubits: tuple[int, ...]) -> np.ndarray:
        full = np.eye(1)
        if len(qubits) == 2 and qubits[1] == qubits[0] + 1:
            mats = [np.eye(2)] * qubits[0] + [u] + [np.eye(2)] * (2 - qubits[1])
        else:
            mats = [u if q == qubits[0] else np.eye(2) for q in range(3)]
        for m in mats:
            full = np.kron(full, m)
        return full

    for r in range(rows):
        psi = np.zeros(8, dtype=complex)
        psi[0] = 1.0
        for kind, op in ops:
            if kind == "gate":
                psi = on(np.asarray(gate_unitary(op.name)), op.qubits) @ psi
            else:
                q, t, _ = op
                half = 0.5 * delta[r, q] * t
                psi = on(np.diag([np.exp(-1j * half), np.exp(1j * half)]), (q,)) @ psi
        assert np.abs(probs[r] - np.abs(psi) ** 2).max() < 1e-5, r
    # and the phases matter: without them the distribution differs
    clean = BatchedTrajectories(build_program([o for o in ops if o[0] == "gate"], 3, line, [], 0))
    assert np.abs(clean.run(np.zeros((1, 0)), 1, np.random.default_rng(0))[0][0, 0] - probs.mean(axis=0)).max() > 1e-3


ECHO_TARGET = "line:3@t1=1e9,t2=1e9,p1=0,p2=0,zz=100,t2star=5,d1=40,d2=1000,gate=cz"


def _echo_program(offset: float):
    """Qubit 0 in |+>, its neighbour 1 in |1>; in moment 1 qubit 1 plays a 1000 ns cz with qubit 2
    (|0>, so 1 stays |1>) while qubit 0 plays an x starting ``offset`` ns into the moment (a
    schedule offset, as DD writes it); in moment 2 both flip (x, x: both busy, no ZZ, qubit 1
    now |0>), in moment 3 qubit 0 turns back with ry(-pi/2)."""
    from hqvit.compiler.pipeline import CompiledCircuit
    from hqvit.ir.angles import Angle
    from hqvit.ir.circuit import Circuit, Measure, Segment
    from hqvit.passes.schedule import Schedule
    from hqvit.targets.noise import TargetNoiseModel

    target = resolve_target(ECHO_TARGET)
    half = (Angle(math.pi / 2),)
    moments = [
        [Gate("ry", (0,), half), Gate("x", (1,))],
        [Gate("cz", (1, 2)), Gate("x", (0,))],
        [Gate("x", (0,)), Gate("x", (1,))],
        [Gate("ry", (0,), (Angle(-math.pi / 2),))],
    ]
    circuit = Circuit(3, [Segment("main", [g for m in moments for g in m] + [Measure((0, 1, 2))])])
    offsets = {(1, 0): offset} if offset > 0 else {}
    schedule = Schedule(moments, (0, 1, 2), 3, offsets)
    compiled = CompiledCircuit(circuit, circuit, target, [0, 1, 2], [0, 1, 2], schedule)
    line = cirq.LineQubit.range(3)
    noise = TargetNoiseModel(target, list(line), 1.0)
    ops = noisy_program.noisy_operations(compiled, noise, {0: 0, 1: 1, 2: 2}, line)
    return build_program(ops, 3, line, [], 0), target


@pytest.mark.parametrize("offset", [480.0, 0.0, 240.0, 960.0])
def test_a_pulse_inside_a_neighbours_long_gate_splits_its_zz_and_detuning(offset):
    """Relative to qubit 1 in |1>, qubit 0's two components pick up zeta t (ZZ) and delta t
    (detuning) over its idle time; the x at offset o swaps them, so over the cz moment the net
    relative phase is (zeta + delta) T with T = o - (1000 - o - 40): zero for the mid-gate pulse
    (o = 480, every trajectory exactly back to |0>), and P(qubit 0 = 1) = E sin^2(...) =
    (1 - cos(zeta T) exp(-sigma^2 T^2 / 2)) / 2 for the others."""
    program, target = _echo_program(offset)
    rows = 64
    probs = BatchedTrajectories(program).run(np.zeros((1, 0)), rows, np.random.default_rng(5))[0][0]
    one = probs.reshape(rows, 2, 4).sum(axis=2)[:, 1]  # P(qubit 0 = 1), qubit 0 most significant
    zeta, sigma = target.zz_rad_per_ns(0, 1), float(target.quasi_static_sigma()[0])
    big_t = offset - (1000.0 - offset - 40.0)
    expect = 0.5 * (1.0 - math.cos(zeta * big_t) * math.exp(-0.5 * (sigma * big_t) ** 2))
    if offset == 480.0:
        assert np.abs(one).max() < 1e-6  # refocused in every trajectory, ZZ and detuning alike
    else:
        assert expect > 0.01
        assert abs(one.mean() - expect) < 4 * one.std(ddof=1) / math.sqrt(rows) + 1e-4
