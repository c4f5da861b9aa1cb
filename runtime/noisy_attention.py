"""Attention scores under a target's calibrated noise, by qsim trajectories.

``NoisyAttention`` has the interface of ``QsimAttention.forward`` so a trained model can be
evaluated with it unchanged. For each image and head the compiled circuit (on the qubits it
touches) is bound, the target's noise model (``targets.noise.TargetNoiseModel``, scaled) is
inserted moment by moment, and ``trajectories`` statevector trajectories are averaged into the
measured distribution; readout error is then applied to that distribution as independent bit
flips on the measured qubits (the same channel the noise model puts before a measurement). With
``shots`` the distribution is sampled, as a device would be.

Every scale, 0 included, runs through the same trajectory path: at scale 0 the noise model
inserts no channel, so the scale-0 point measures (rather than assumes) that the noisy path
reproduces the noiseless evaluation.

Every call also records, per image, the noiseless S and distribution of the same compiled
circuit, so attention error and distribution fidelity come from the same run, and S from two
independent halves of the trajectories, so the trajectory (Monte Carlo) error can be estimated.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import cirq
import numpy as np

from hqvit.compiler.hqvit import HQViTConfig
from hqvit.compiler.pipeline import CompiledCircuit
from hqvit.ir.angles import Angle
from hqvit.ir.circuit import Gate
from hqvit.passes.schedule import Schedule
from hqvit.runtime.quantum_attention import QsimAttention
from hqvit.runtime.readout import attention_from_joint
from hqvit.runtime.trajectories import NoisyTemplate, TrajectorySimulator
from hqvit.targets.noise import TargetNoiseModel


@dataclass
class NoiseRecord:
    """Per (image, head): mean |S_noisy - S_ideal| over valid pairs, fidelity of the measured
    distribution, and the same error from each half of the trajectories."""

    abs_error: list[float] = field(default_factory=list)
    fidelity: list[float] = field(default_factory=list)
    half_difference_rms: list[float] = field(default_factory=list)


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
    ):
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
        self._trainable_index = {name: k for k, name in enumerate(ex.trainable_symbols)}
        self.n = ex.num_qubits
        used = sorted({q for g in compiled.circuit.gates() for q in g.qubits} | set(compiled.final_layout))
        self.remap = {p: i for i, p in enumerate(used)}
        self.line = cirq.LineQubit.range(self.n)
        device = compiled.cirq_qubits()
        self.to_line = {device[p]: self.line[i] for p, i in self.remap.items()}
        # the noise model looks qubits up by target index; indices the circuit never uses get
        # stand-in qubits that appear in no operation
        by_index = [cirq.NamedQubit(f"unused{p}") for p in range(compiled.target.num_qubits)]
        for p, i in self.remap.items():
            by_index[p] = self.line[i]
        self.noise = TargetNoiseModel(compiled.target, by_index, scale)
        measured = [self.remap[p] for p in compiled.schedule.measured] or self.readout.kept
        self.readout_flips = [(q, scale * float(compiled.target.readout_error[p])) for p, q in self._measured(measured)]
        # every gate whose angle depends on a trainable symbol gets its own offset symbol, so the
        # parameter-shift rule can shift one occurrence at a time (``vjp``)
        self.shift_slots: list[tuple[str, dict[str, float]]] = []
        schedule = _with_shift_symbols(compiled, set(ex.trainable_symbols), self.shift_slots)
        self.shift_names = [name for name, _ in self.shift_slots]
        # the noisy circuit with symbolic angles, noise inserted once
        shifted = replace(compiled, schedule=schedule)
        symbolic = shifted.to_cirq(None, measurements=False).transform_qubits(self.to_line)
        noisy = cirq.Circuit(self.noise.noisy_moments(symbolic.moments, self.line))
        self.template = NoisyTemplate(noisy, self.line)
        self.record = NoiseRecord()
        self.calls = 0
        self._halves: list[tuple[np.ndarray, np.ndarray]] = []
        self._masks: list[np.ndarray] = []
        self.replay: str | None = None  # "a" | "b": return the stored half-trajectory S instead
        self.recording = True  # False while training: nothing is kept per call

    def _measured(self, measured: list[int]) -> list[tuple[int, int]]:
        inverse = {i: p for p, i in self.remap.items()}
        return [(inverse[q], q) for q in measured]

    # -- one distribution ----------------------------------------------------------------------
    def _noisy_probabilities(
        self, values: np.ndarray, seed: int, shift: tuple[int, float] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Mean distribution over the two halves of the trajectories, each (2^n,); ``shift``
        (slot, angle) offsets one trainable gate occurrence."""
        bindings = dict(zip(self.symbols, values.tolist(), strict=True))
        bindings.update(dict.fromkeys(self.shift_names, 0.0))
        if shift is not None:
            bindings[self.shift_names[shift[0]]] = shift[1]
        sim = TrajectorySimulator(None, self.line, translated=self.template.translate(bindings))
        halves = [np.zeros(1 << self.n), np.zeros(1 << self.n)]
        for k, psi in enumerate(sim.states(self.trajectories, seed)):
            halves[k % 2] += psi.real.astype(np.float64) ** 2 + psi.imag.astype(np.float64) ** 2
        counts = [(self.trajectories + 1) // 2, self.trajectories // 2]
        return tuple(self._flip(h / c) for h, c in zip(halves, counts, strict=True))

    def _flip(self, p: np.ndarray) -> np.ndarray:
        """Readout error: each measured qubit's bit flips with its (scaled) error."""
        p = p.reshape((2,) * self.n)
        for q, e in self.readout_flips:
            e = min(1.0, e)
            if e > 0:
                p = (1 - e) * p + e * np.flip(p, axis=q)
        return p.reshape(-1)

    def _sample(self, p: np.ndarray) -> np.ndarray:
        if self.shots is None:
            return p
        p = np.clip(p, 0, None)
        return self.rng.multinomial(self.shots, p / p.sum()) / self.shots

    # -- the QsimAttention interface -----------------------------------------------------------
    def forward(self, data: np.ndarray, params: np.ndarray, valid: np.ndarray, states=None):
        if self.replay is not None:
            (s_a, s_b), mask = self._halves[self.calls], self._masks[self.calls]
            self.calls += 1
            return (s_a if self.replay == "a" else s_b), mask
        ex = self.ideal.executor
        b, h, t = data.shape[0], params.shape[0], self.cfg.tokens
        s_out, s_a, s_b = np.zeros((b, h, t, t)), np.zeros((b, h, t, t)), np.zeros((b, h, t, t))
        mask_out = np.zeros((b, t), dtype=bool)
        for i in range(b):
            if self.recording:  # the noiseless reference, for the error and fidelity figures only
                state = ex.prefix_state(ex.prefix.table.bind(ex.symbol_vector(data[i], params[0])))
                ideal_p = ex.suffix_probabilities(state, self.ideal._suffix_angles(data[i], params))
                ideal_s, _ = attention_from_joint(self.readout.joint(ideal_p), valid[i])
            for head in range(h):
                seed = int(self.rng.integers(2**31 - 1))
                half_a, half_b = self._noisy_probabilities(ex.symbol_vector(data[i], params[head]), seed)
                full = 0.5 * (half_a + half_b) if self.trajectories % 2 == 0 else None
                if full is None:  # odd count: weight the halves by their trajectories
                    na, nb = (self.trajectories + 1) // 2, self.trajectories // 2
                    full = (na * half_a + nb * half_b) / self.trajectories
                joints = self.readout.joint(np.stack([self._sample(full), half_a, half_b]))
                s3, m3 = attention_from_joint(joints, valid[i])
                s_out[i, head], s_a[i, head], s_b[i, head] = s3
                mask_out[i] = m3[0]
                if not self.recording:
                    continue
                pair = m3[0][:, None] & m3[0][None, :]
                self.record.abs_error.append(float(np.abs(s3[0] - ideal_s[head])[pair].mean()) if pair.any() else 0.0)
                self.record.half_difference_rms.append(float(np.sqrt(np.mean((s3[1] - s3[2])[pair] ** 2))))
                kept = self._marginal(np.stack([full, ideal_p[head]]))
                # float32 simulation drifts the norm (the reused-prefix ideal path by ~6e-5 on digits);
                # the classical fidelity is defined for normalized distributions
                kept = kept / kept.sum(axis=1, keepdims=True)
                self.record.fidelity.append(float(np.sum(np.sqrt(np.clip(kept[0], 0, None) * kept[1]))) ** 2)
        if self.recording:
            self._halves.append((s_a, s_b))
            self._masks.append(mask_out)
        self.calls += 1
        return s_out, mask_out

    def vjp(self, data, params, valid, grad_s, need_data: bool, states=None):
        """dL/dparams by the parameter-shift rule on the noisy circuit: the noise channels do not
        depend on the angles, so for a gate exp(-i a P / 2) the rule (E(a + pi/2) - E(a - pi/2)) / 2
        holds for the noisy expectation too (and for S through the same readout, slot by slot).
        Both shifts use the same trajectory seeds, which cancels most of the Monte Carlo noise."""
        if need_data:
            raise ValueError("noisy training supports one transformer block (no data gradients)")
        g = np.zeros_like(params, dtype=np.float64)
        for i in range(data.shape[0]):
            for head in range(params.shape[0]):
                values = self.ideal.executor.symbol_vector(data[i], params[head])
                seed = int(self.rng.integers(2**31 - 1))
                for k, (_, coeffs) in enumerate(self.shift_slots):
                    s = []
                    for sign in (1, -1):
                        a, b = self._noisy_probabilities(values, seed, (k, sign * np.pi / 2))
                        full = 0.5 * (a + b)
                        s.append(attention_from_joint(self.readout.joint(full[None]), valid[i])[0][0])
                    d = 0.5 * float(np.sum((s[0] - s[1]) * grad_s[i, head]))
                    for name, c in coeffs.items():
                        g[head, self._trainable_index[name]] += c * d
        return g, None

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


def _with_shift_symbols(compiled: CompiledCircuit, trainable: set[str], slots: list) -> Schedule:
    """The schedule with ``angle + _shiftK`` on every gate whose angle involves a trainable symbol;
    ``slots`` receives (``_shiftK``, {trainable symbol: coefficient}) per such gate."""
    moments = []
    for layer in compiled.schedule.moments:
        out = []
        for g in layer:
            names = {n for a in g.angles for n in a.symbols} & trainable
            if names:
                if g.name not in ("rx", "ry", "rz"):
                    raise ValueError(f"parameter shift needs rx/ry/rz for trainable angles, got {g.name}")
                name = f"_shift{len(slots)}"
                slots.append((name, {n: g.angles[0].coeff(n) for n in names}))
                g = Gate(g.name, g.qubits, (g.angles[0] + Angle.symbol(name),))
            out.append(g)
        moments.append(out)
    return Schedule(moments, compiled.schedule.measured, compiled.schedule.num_qubits)
