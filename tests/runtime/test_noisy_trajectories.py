"""The batched trajectory engine against an exact density-matrix reference on a small circuit.

The circuit is the smallest HQViT one (4x4 image, 2x2 patches: 8 qubits) compiled for an
all-to-all device with exaggerated noise (depolarizing, amplitude and phase damping), so every
channel kind matters. The reference is Cirq's density-matrix simulator on the very operations the
noise model inserts: independent of the engine's blocks, mixtures and jumps.
"""

from __future__ import annotations

import cirq
import numpy as np
import pytest

from hqvit.compiler.hqvit import HQViTConfig
from hqvit.compiler.pipeline import compile_hqvit
from hqvit.runtime.noisy_attention import NoisyAttention
from hqvit.targets import resolve_target

TARGET = "all-to-all:8@t1=3,t2=4,p2=0.02,p1=0.005"  # T1 3 us, T2 4 us: damping on every idle window


@pytest.fixture(scope="module")
def setup():
    cfg = HQViTConfig((4, 4), (2, 2), layers=1)
    compiled = compile_hqvit(cfg, resolve_target(TARGET), opt=1, seed=0)
    noisy = NoisyAttention(cfg, compiled, 1.0, trajectories=2)
    symbols = np.random.default_rng(0).uniform(-np.pi, np.pi, len(noisy.symbols))
    return noisy, symbols


def noisy_circuit(noisy: NoisyAttention, symbols: np.ndarray) -> cirq.Circuit:
    """The compiled circuit bound to ``symbols`` with the noise model's channels, on the engine's qubits."""
    compiled = noisy.compiled
    to_line = {compiled.cirq_qubits()[p]: noisy.line[i] for p, i in noisy.remap.items()}
    bound = compiled.to_cirq(dict(zip(noisy.symbols, symbols.tolist(), strict=True)), measurements=False)
    return cirq.Circuit(noisy.noise.noisy_moments(bound.transform_qubits(to_line).moments, noisy.line))


def reference(noisy: NoisyAttention, symbols: np.ndarray) -> np.ndarray:
    """Exact noisy distribution of the compiled circuit bound to ``symbols``."""
    sim = cirq.DensityMatrixSimulator(dtype=np.complex128)
    rho = sim.simulate(noisy_circuit(noisy, symbols), qubit_order=noisy.line).final_density_matrix
    return np.real(np.diag(rho)).copy()


def test_distribution_agrees_with_density_matrix_within_5_standard_errors(setup):
    noisy, symbols = setup
    kinds = {type(op.gate).__name__ for op in noisy_circuit(noisy, symbols).all_operations()}
    assert {"DepolarizingChannel", "AmplitudeDampingChannel", "PhaseDampingChannel"} <= kinds
    exact = reference(noisy, symbols)
    rows = noisy.engine.run(symbols[None], 2000, np.random.default_rng(1))[0][0]  # (R, 2^n)
    assert np.allclose(rows.sum(axis=1), 1.0)
    # every outcome that carries probability, one by one; the rest (tiny, heavy-tailed per
    # trajectory, so their own standard errors mean little) as one aggregate event
    bulk = exact > 1e-3
    events = np.concatenate([rows[:, bulk], rows[:, ~bulk].sum(axis=1, keepdims=True)], axis=1)
    want = np.concatenate([exact[bulk], [exact[~bulk].sum()]])
    se = events.std(axis=0, ddof=1) / np.sqrt(len(events))
    z = np.abs(events.mean(axis=0) - want) / se
    assert bulk.sum() > 30 and exact[bulk].sum() > 0.8
    assert z.max() < 5, z.max()
    # the jumps really happen (the damping path is exercised, not just the no-jump matrices)
    stats = noisy.engine.stats
    assert stats[2] > 0


def test_same_seed_same_trajectories(setup):
    noisy, symbols = setup
    a = noisy.engine.run(symbols[None], 40, np.random.default_rng(7))[0]
    b = noisy.engine.run(symbols[None], 40, np.random.default_rng(7))[0]
    assert np.array_equal(a, b)


def _trainable(noisy: NoisyAttention) -> np.ndarray:
    return np.arange(noisy.n_data, len(noisy.symbols))


def _estimated_gradient(noisy: NoisyAttention, symbols: np.ndarray, w: np.ndarray, rows: int, seed: int):
    """The engine's estimate of d(sum_x w_x p_x)/d(trainable symbols) from ``rows`` trajectories."""
    engine = noisy.engine
    _, tapes = engine.run(symbols[None], rows, np.random.default_rng(seed), record=True)
    dl_dp = np.broadcast_to(w / rows, (rows, w.shape[0]))
    g_angles = engine.gradient(tapes[0], engine.clean_matrices(symbols), np.ascontiguousarray(dl_dp))
    return (g_angles @ noisy.program.table.coeff)[_trainable(noisy)[[0, -1]]]


def _reference_gradient(noisy: NoisyAttention, symbols: np.ndarray, w: np.ndarray, h: float = 1e-4):
    """Central differences of the exact sum_x w_x p_x in the first and the last trainable symbol."""
    out = []
    for k in _trainable(noisy)[[0, -1]]:
        up, down = symbols.copy(), symbols.copy()
        up[k] += h
        down[k] -= h
        out.append((w @ reference(noisy, up) - w @ reference(noisy, down)) / (2 * h))
    return np.array(out)


def test_gradient_is_unbiased_against_density_matrix(setup):
    """Damping jumps have state-dependent probabilities, so a gradient that differentiated each
    normalized trajectory with its draws held fixed would be biased; the estimator keeps the
    norm's dependence on the angles (batched_trajectories), and must agree with the exact
    gradient within statistical error."""
    noisy, symbols = setup
    w = np.random.default_rng(3).normal(size=1 << noisy.n)
    want = _reference_gradient(noisy, symbols, w)
    batches = np.array([_estimated_gradient(noisy, symbols, w, 2000, seed) for seed in range(8)])
    mean, se = batches.mean(axis=0), batches.std(axis=0, ddof=1) / np.sqrt(len(batches))
    assert np.all(se < 0.25 * np.abs(want).max())  # the check has power
    assert np.all(np.abs(mean - want) < 5 * se + 1e-6), (mean, want, se)


def test_gradient_equals_noiseless_gradient_without_noise():
    cfg = HQViTConfig((4, 4), (2, 2), layers=1)
    compiled = compile_hqvit(cfg, resolve_target(TARGET), opt=1, seed=0)
    noisy = NoisyAttention(cfg, compiled, 0.0, trajectories=2)
    symbols = np.random.default_rng(0).uniform(-np.pi, np.pi, len(noisy.symbols))
    w = np.random.default_rng(4).normal(size=1 << noisy.n)
    got = _estimated_gradient(noisy, symbols, w, 2, 0)
    want = _reference_gradient(noisy, symbols, w)
    assert np.abs(got - want).max() < 1e-4 * max(1.0, np.abs(want).max())


# static ZZ (100 kHz on every coupler) and quasi-static dephasing (T2* = 2 us) on top: the engine
# applies the ZZ phases and detunings as diagonal passes between re-cut blocks (phase_fusion)
IDLE_TARGET = TARGET + ",zz=100,t2star=2"


def _operation_circuit(noisy: NoisyAttention, symbols: np.ndarray, delta: np.ndarray) -> cirq.Circuit:
    """``noisy_operations`` (what the engine is built from) as a Cirq circuit in the same order on
    every qubit (earliest insertion): gates bound to ``symbols``, channels as they are, a ZZ as
    diag(1, 1, 1, exp(-i phi)), a detuning of qubit q over t as exp(-i delta_q t Z / 2) with the
    given ``delta``."""
    from hqvit.ir.gates import gate_unitary
    from hqvit.runtime.noisy_program import noisy_operations

    values = dict(zip(noisy.symbols, symbols.tolist(), strict=True))
    line = noisy.line
    out = []
    for kind, op in noisy_operations(noisy.compiled, noisy.noise, noisy.remap, line):
        if kind == "gate":
            m = np.asarray(gate_unitary(op.name, [a.bind(values) for a in op.angles]))
            out.append(cirq.MatrixGate(m).on(*(line[q] for q in op.qubits)))
        elif kind == "channel":
            out.append(op)
        elif kind == "zz":
            x, y, phi = op
            out.append(cirq.MatrixGate(np.diag([1, 1, 1, np.exp(-1j * phi)])).on(line[x], line[y]))
        else:
            q, t, _ = op
            half = 0.5 * delta[q] * t
            out.append(cirq.MatrixGate(np.diag([np.exp(-1j * half), np.exp(1j * half)])).on(line[q]))
    return cirq.Circuit(out)


def test_idle_phase_passes_agree_with_density_matrix_within_5_standard_errors():
    """The re-cut program (ZZ phases and detunings as diagonal passes, blocks on the rows of the
    qubits touched so far) against the density matrix of the operation list, conditioned on one
    fixed detuning per qubit: every outcome within 5 standard errors, with damping jumps."""
    cfg = HQViTConfig((4, 4), (2, 2), layers=1)
    compiled = compile_hqvit(cfg, resolve_target(IDLE_TARGET), opt=1, seed=0)
    noisy = NoisyAttention(cfg, compiled, 1.0, trajectories=2)
    engine = noisy.engine
    # the fusion is exercised: ZZ phases left the blocks for passes, which also carry detunings
    assert engine.program.num_blocks < noisy.program.num_blocks and (engine.ph_fixed >= 0).sum() > 10
    assert len(engine.program.ph_qubit) > 0
    symbols = np.random.default_rng(0).uniform(-np.pi, np.pi, len(noisy.symbols))
    delta = np.random.default_rng(1).standard_normal(noisy.n) * noisy.program.qs_sigma
    sim = cirq.DensityMatrixSimulator(dtype=np.complex128)
    rho = sim.simulate(_operation_circuit(noisy, symbols, delta), qubit_order=noisy.line).final_density_matrix
    exact = np.real(np.diag(rho)).copy()
    rows = engine.run(symbols[None], 2000, np.random.default_rng(2), detuning=delta)[0][0]
    bulk = exact > 1e-3
    events = np.concatenate([rows[:, bulk], rows[:, ~bulk].sum(axis=1, keepdims=True)], axis=1)
    want = np.concatenate([exact[bulk], [exact[~bulk].sum()]])
    se = events.std(axis=0, ddof=1) / np.sqrt(len(events))
    z = np.abs(events.mean(axis=0) - want) / se
    assert bulk.sum() > 30 and exact[bulk].sum() > 0.8
    assert z.max() < 5, z.max()
    assert engine.stats[2] > 0
    # and the idle terms matter at this size: without them the exact distribution is another one
    plain = reference(noisy, symbols)
    assert 0.5 * np.abs(plain - exact).sum() > 0.02


def test_elements_after_a_two_qubit_phase_stay_after_it():
    """A ZZ phase on (0, 1) whose pass is due before qubit 0's next block: a later gate on qubit 1,
    flushed by a detuning on 1, must not join qubit 1's block from before the phase (the re-cut
    program must equal the state vector of the operation list in order)."""
    from hqvit.ir.circuit import Gate
    from hqvit.ir.gates import gate_unitary
    from hqvit.runtime.batched_trajectories import BatchedTrajectories
    from hqvit.runtime.noisy_program import build_program

    line = cirq.LineQubit.range(3)
    ops = [("gate", Gate("h", (q,))) for q in range(3)] + [("gate", Gate("cz", (1, 2))), ("gate", Gate("sx", (0,)))]
    ops += [("zz", (0, 1, 0.9)), ("gate", Gate("cz", (0, 2))), ("gate", Gate("h", (1,)))]
    ops += [("detuning", (1, 1000.0, 1e-3)), ("gate", Gate("cz", (1, 2)))]
    ops += [("gate", Gate("h", (q,))) for q in range(3)]
    engine = BatchedTrajectories(build_program(ops, 3, line, [], 0))
    assert (engine.ph_fixed >= 0).any()  # the ZZ is a pass, not a block element
    delta = np.array([0.0, 4e-4, 0.0])
    probs = engine.run(np.zeros((1, 0)), 1, np.random.default_rng(0), detuning=delta)[0][0, 0]
    psi = np.zeros(8, dtype=complex)
    psi[0] = 1.0
    circuit = []
    for kind, op in ops:
        if kind == "gate":
            circuit.append(cirq.MatrixGate(np.asarray(gate_unitary(op.name))).on(*(line[q] for q in op.qubits)))
        elif kind == "zz":
            circuit.append(cirq.MatrixGate(np.diag([1, 1, 1, np.exp(-1j * op[2])])).on(line[op[0]], line[op[1]]))
        else:
            half = 0.5 * delta[op[0]] * op[1]
            circuit.append(cirq.MatrixGate(np.diag([np.exp(-1j * half), np.exp(1j * half)])).on(line[op[0]]))
    state = cirq.Simulator(dtype=np.complex128).simulate(cirq.Circuit(circuit), qubit_order=line).final_state_vector
    assert np.abs(probs - np.abs(state) ** 2).max() < 1e-5
