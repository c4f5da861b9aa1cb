"""Attention scores under a target's calibrated noise, by batched trajectories.

``NoisyAttention`` has the interface of ``QsimAttention.forward`` so a trained model can be
evaluated with it unchanged. The compiled circuit (on the qubits it touches) gets the target's
noise model (``targets.noise.TargetNoiseModel``, scaled) inserted once, as a ``NoisyProgram`` of
fused two-qubit blocks; for each image ``trajectories`` trajectories of every head run as one
batch (``batched_trajectories``: mixtures drawn per trajectory, amplitude damping with qsim's
state-dependent jump semantics, the head-independent blocks run once per image) and are averaged
into the measured distribution. Readout error is then applied to that distribution as
independent bit flips on the measured qubits (the same channel the noise model puts before a
measurement). With ``shots`` the distribution is sampled, as a device would be.

Every scale, 0 included, runs through the same trajectory path: at scale 0 the noise model
inserts no channel, so the scale-0 point measures (rather than assumes) that the noisy path
reproduces the noiseless evaluation.

Every call also records, per image, the noiseless S and distribution of the same compiled
circuit (qsim's binding path), so attention error and distribution fidelity come from the same
run, and S from two independent halves of the trajectories, so the trajectory (Monte Carlo)
error can be estimated.

Gradients (``vjp``, noisy training) are per-trajectory adjoint sweeps through the trajectories
the forward pass drew (see ``batched_trajectories`` for why the estimator of the distribution's
Jacobian is unbiased), instead of 2 noisy evaluations per trainable gate.
"""

from __future__ import annotations

import copy
import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import cirq
import numpy as np
import torch

from hqvit.compiler.hqvit import HQViTConfig
from hqvit.compiler.pipeline import CompiledCircuit
from hqvit.ir.angles import AngleTable
from hqvit.runtime.batched_trajectories import BatchedTrajectories, Tape
from hqvit.runtime.noisy_program import NoisyProgram, build_program, noisy_operations
from hqvit.runtime.quantum_attention import QsimAttention
from hqvit.runtime.readout import attention_from_joint, attention_torch, joint_torch
from hqvit.targets.noise import TargetNoiseModel


def engine_copy(engine: BatchedTrajectories, table: AngleTable | None = None) -> BatchedTrajectories:
    """An engine equal to a fresh ``BatchedTrajectories`` of the program ``engine`` was built
    from (with its angle table replaced by ``table``, if given), without the phase fusion and
    layout again. Exact: everything the constructor derives (the fused, renumbered program, the
    fixed phase vectors, the split and the trainable / stored block indices) comes from the
    program's blocks, elements and ``slot_trainable``, never from its angle table, which the fused
    program carries unchanged and only ``bind`` reads; the one attribute a run writes is the
    ``stats`` counter, which the copy gets afresh (tests/runtime/test_noisy_program_build.py
    compares every attribute with a fresh build)."""
    out = copy.copy(engine)
    if table is not None:
        out.program = replace(engine.program, table=table)
    out.stats = np.zeros_like(engine.stats)
    return out


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside: building a noisy program allocates some 10^5 small
    objects (cirq operations and moments, elements), which triggers full collections of the
    caller's whole heap (a third of the build time in a process holding a model and a compiled
    circuit). Reference counting still frees everything that is not in a cycle; collection
    resumes, as it was, on exit."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@dataclass
class NoiseRecord:
    """Per (image, head): mean |S_noisy - S_ideal| over valid pairs, fidelity of the measured
    distribution, and the same error from each half of the trajectories."""

    abs_error: list[float] = field(default_factory=list)
    fidelity: list[float] = field(default_factory=list)
    half_difference_rms: list[float] = field(default_factory=list)


@dataclass
class _ImageTapes:
    """What ``forward`` keeps per image for ``vjp``: every head's tape and averaged distribution."""

    tapes: list[Tape]
    probs: np.ndarray  # (H, 2^n) trajectory-averaged, before readout flips
    cleans: list[np.ndarray]


class NoisyAttention:
    # a backend of qsim_attention like QsimAttention; noisy trajectories always simulate the
    # encoding, so there is no closed-form encoded state to take the fast path with
    closed_form = None

    def __init__(
        self,
        cfg: HQViTConfig,
        compiled: CompiledCircuit,
        scale: float,
        trajectories: int = 32,
        shots: int | None = None,
        seed: int = 0,
        built: tuple[NoisyProgram, BatchedTrajectories] | None = None,
    ):
        """``built``: the (program, engine) of an earlier backend for the same compiled circuit
        and scale (``noisy_quantized.NoiseSpec`` keeps them): the program depends on nothing else
        (qubits and symbols come from the compiled circuit), so it is reused and the engine
        copied (``engine_copy``) instead of inserting the noise and cutting the blocks again."""
        if trajectories < 2:
            raise ValueError("trajectories must be >= 2 (two halves estimate the trajectory error)")
        self.cfg = cfg
        self.compiled = compiled
        self.scale = scale
        self.trajectories = trajectories
        self.shots = shots
        self.rng = np.random.default_rng(seed)
        self.seed = seed
        self.ideal = QsimAttention(cfg, compiled)
        self.readout = self.ideal.readout
        ex = self.ideal.executor
        self.symbols = list(ex.data_symbols) + list(ex.trainable_symbols)
        self.n_data = len(ex.data_symbols)
        self.n = ex.num_qubits
        used = sorted({q for g in compiled.circuit.gates() for q in g.qubits} | set(compiled.final_layout))
        self.remap = {p: i for i, p in enumerate(used)}
        self.line = cirq.LineQubit.range(self.n)
        # the noise model looks qubits up by target index; indices the circuit never uses get
        # stand-in qubits that appear in no operation
        by_index = [cirq.NamedQubit(f"unused{p}") for p in range(compiled.target.num_qubits)]
        for p, i in self.remap.items():
            by_index[p] = self.line[i]
        self.noise = TargetNoiseModel(compiled.target, by_index, scale)
        measured = [self.remap[p] for p in compiled.schedule.measured] or self.readout.kept
        self.readout_flips = [(q, scale * float(compiled.target.readout_error[p])) for p, q in self._measured(measured)]
        if built is None:
            with gc_paused():
                operations = noisy_operations(compiled, self.noise, self.remap, self.line)
                self.program = build_program(operations, self.n, self.line, self.symbols, self.n_data)
                self.engine = BatchedTrajectories(self.program)
        else:
            program, engine = built
            if (
                program.num_qubits != self.n
                or program.n_data != self.n_data
                or program.table.symbol_order != self.symbols
            ):
                raise ValueError("the prebuilt noisy program is for another compiled circuit")
            self.program, self.engine = program, engine_copy(engine)
        self.record = NoiseRecord()
        self.calls = 0
        self._halves: list[tuple[np.ndarray, np.ndarray]] = []
        self._masks: list[np.ndarray] = []
        self.replay: str | None = None  # "a" | "b": return the stored half-trajectory S instead
        self.recording = True  # False while training: nothing is kept per call

    def _measured(self, measured: list[int]) -> list[tuple[int, int]]:
        inverse = {i: p for p, i in self.remap.items()}
        return [(inverse[q], q) for q in measured]

    # -- distributions -------------------------------------------------------------------------
    def _trajectories(
        self, data: np.ndarray, params: np.ndarray, seed: int, record: bool
    ) -> tuple[np.ndarray, list[Tape] | None]:
        """(H, R, 2^n) per-trajectory distributions of one image, every head, and their tapes."""
        symbols = np.concatenate([np.broadcast_to(data, (params.shape[0], data.shape[0])), params], axis=1)
        return self.engine.run(symbols, self.trajectories, np.random.default_rng(seed), record)

    def _halves_of(self, per_trajectory: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(R, 2^n) -> the flipped mean distribution of the even and of the odd trajectories."""
        return self._flip(per_trajectory[0::2].mean(axis=0)), self._flip(per_trajectory[1::2].mean(axis=0))

    def _flip(self, p: np.ndarray) -> np.ndarray:
        """Readout error: each measured qubit's bit flips with its (scaled) error. Linear and
        symmetric (p -> (1 - e) p + e flip(p)), so it is also its own transpose for gradients."""
        shape = p.shape
        p = p.reshape(shape[:-1] + (2,) * self.n)
        lead = len(shape) - 1
        for q, e in self.readout_flips:
            e = min(1.0, e)
            if e > 0:
                p = (1 - e) * p + e * np.flip(p, axis=lead + q)
        return p.reshape(shape)

    def _sample(self, p: np.ndarray) -> np.ndarray:
        if self.shots is None:
            return p
        p = np.clip(p, 0, None)
        return self.rng.multinomial(self.shots, p / p.sum()) / self.shots

    def _ideal_probabilities(self, data: np.ndarray, params: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """(B, H, 2^n) noiseless distributions of the same compiled circuit, from qsim's binding
        path (an implementation independent of the trajectory engine); the encoded state is
        simulated once per image and shared by the heads."""
        ex = self.ideal.executor
        out = np.empty((data.shape[0], params.shape[0], 1 << self.n))
        for i in range(data.shape[0]):
            state = ex.prefix_state(ex.prefix.table.bind(ex.symbol_vector(data[i], params[0])))
            out[i] = ex.suffix_probabilities(state, self.ideal._suffix_angles(data[i], params))
        return out

    # -- the QsimAttention interface -----------------------------------------------------------
    def forward(self, data: np.ndarray, params: np.ndarray, valid: np.ndarray, states=None):
        """data (B, n_data), params (H, n_trainable), valid (B, T) -> S (B, H, T, T), mask (B, T).
        If ``states`` is a list, each image's trajectories are kept in it for ``vjp``."""
        if self.replay is not None:
            (s_a, s_b), mask = self._halves[self.calls], self._masks[self.calls]
            self.calls += 1
            return (s_a if self.replay == "a" else s_b), mask
        b, h, t = data.shape[0], params.shape[0], self.cfg.tokens
        s_out, s_a, s_b = np.zeros((b, h, t, t)), np.zeros((b, h, t, t)), np.zeros((b, h, t, t))
        mask_out = np.zeros((b, t), dtype=bool)
        ideal_p = self._ideal_probabilities(data, params, valid) if self.recording else None
        # tapes (a copy of the batch at every trainable block, per image and head) only for
        # training (``recording`` off): an evaluation that records is never differentiated
        # (autograd asks for states whenever the parameters require grad, no_grad or not), and
        # ``vjp`` without them runs the forward pass again
        taping = states is not None and not self.recording
        for i in range(b):
            seed = int(self.rng.integers(2**31 - 1))
            per_trajectory, tapes = self._trajectories(data[i], params, seed, taping)
            mean = per_trajectory.mean(axis=1)  # (H, 2^n)
            if taping:
                states.append(
                    _ImageTapes(tapes, mean, [self.engine.clean_matrices(self._symbols(data[i], p)) for p in params])
                )
            for head in range(h):
                half_a, half_b = self._halves_of(per_trajectory[head])
                full = self._flip(mean[head])
                joints = self.readout.joint(np.stack([self._sample(full), half_a, half_b]))
                s3, m3 = attention_from_joint(joints, valid[i])
                s_out[i, head], s_a[i, head], s_b[i, head] = s3
                mask_out[i] = m3[0]
                if not self.recording:
                    continue
                ideal_s, _ = attention_from_joint(self.readout.joint(ideal_p[i, head][None]), valid[i])
                pair = m3[0][:, None] & m3[0][None, :]
                self.record.abs_error.append(float(np.abs(s3[0] - ideal_s[0])[pair].mean()) if pair.any() else 0.0)
                self.record.half_difference_rms.append(float(np.sqrt(np.mean((s3[1] - s3[2])[pair] ** 2))))
                kept = self._marginal(np.stack([full, ideal_p[i, head]]))
                # float32 simulation drifts the norm; the classical fidelity is defined for
                # normalized distributions
                kept = kept / kept.sum(axis=1, keepdims=True)
                self.record.fidelity.append(float(np.sum(np.sqrt(np.clip(kept[0], 0, None) * kept[1]))) ** 2)
        if self.recording:
            self._halves.append((s_a, s_b))
            self._masks.append(mask_out)
        self.calls += 1
        return s_out, mask_out

    def _symbols(self, data: np.ndarray, params: np.ndarray) -> np.ndarray:
        return np.concatenate([data, params])

    def vjp(self, data, params, valid, grad_s, need_data: bool, states=None):
        """dL/dparams by per-trajectory adjoint sweeps through the forward pass's trajectories
        (``states``; drawn afresh if absent). dL/dp of the averaged distribution comes from
        autograd through the readout flips and S; each trajectory's share (1/R of it) is swept
        back through that trajectory's realized circuit (``BatchedTrajectories.gradient``)."""
        if need_data:
            raise ValueError("noisy training supports one transformer block (no data gradients)")
        if states is None or len(states) != data.shape[0]:
            states = []
            recording, self.recording = self.recording, False
            try:
                self.forward(data, params, valid, states)
            finally:
                self.recording = recording
        coeff = self.program.table.coeff[:, self.n_data :]
        g = np.zeros_like(params, dtype=np.float64)
        for i, kept in enumerate(states):
            for head in range(params.shape[0]):
                dl_dp = self._dl_dp(kept.probs[head], valid[i], grad_s[i, head])
                rows = np.broadcast_to(dl_dp / self.trajectories, (self.trajectories, dl_dp.shape[0]))
                g_angles = self.engine.gradient(kept.tapes[head], kept.cleans[head], np.ascontiguousarray(rows))
                g[head] += g_angles @ coeff
        return g, None

    def _dl_dp(self, mean: np.ndarray, valid: np.ndarray, grad_s: np.ndarray) -> np.ndarray:
        """dL/dp (2^n,) of the trajectory-averaged distribution before readout flips, given
        dL/dS: autograd through S = (P0 - P1) / (P0 + P1) and the marginalization, then the
        flips' transpose (themselves)."""
        flipped = torch.from_numpy(self._flip(mean)[None]).requires_grad_()
        with torch.enable_grad():
            s, _ = attention_torch(joint_torch(self.readout, flipped), torch.from_numpy(valid)[None])
            (grad,) = torch.autograd.grad(s, flipped, torch.from_numpy(np.asarray(grad_s, dtype=np.float64))[None])
        return self._flip(grad[0].numpy())

    def _marginal(self, probs: np.ndarray) -> np.ndarray:
        """(K, 2^n) -> (K, 2^kept): the distribution of the measured (readout) qubits."""
        r = self.readout
        p = probs.reshape((probs.shape[0],) + (2,) * self.n)
        p = np.transpose(p, [0] + [1 + q for q in r.kept] + [1 + q for q in r.rest])
        return p.reshape(probs.shape[0], 2 ** len(r.kept), -1).sum(-1)

    def start_replay(self, half: str) -> None:
        self.replay, self.calls = half, 0

    def stop_replay(self) -> None:
        self.replay, self.calls = None, 0
