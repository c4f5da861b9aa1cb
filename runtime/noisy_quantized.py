"""Rotation angles on a B-bit grid under a target's calibrated noise, by batched trajectories.

``NoisyQuantizedAttention`` is ``NoisyAttention`` (the target's noise model inserted into the
circuit compiled for it, R trajectories per image and head, readout flips, the same records)
with one change: every rotation angle of the compiled circuit, the value the control
electronics are asked for, is put on the grid k·2π/2^B before the gates' matrices are built.
The angles are bound from the image and the head's parameters exactly as the noisy engine binds
them (``NoisyProgram.bind``), quantized slot by slot, and then run by a copy of the engine whose
angle table is the identity over slots, so the trajectories see the quantized angles and
nothing else changes (the noise channels, their draws, the coherent idle terms).

- ``round``: one grid setting per gate (``round_angles``); the R trajectories run as one batch.
- ``interpolate``: every trajectory draws its own PAI setting of every gate
  (``sample_settings``) and its distribution is weighted by the product of the drawn gates'
  factors γ·sign(w_k); the trajectories run one at a time (each has its own gate matrices).

Why the weighted trajectory mean is unbiased under noise. The noise model inserts its channels
by gate name, qubits and duration (``noisy_operations`` works on the symbolic circuit), never by
the angle's value, so for fixed noise the noisy circuit's output distribution p(θ) is an affine
function of each gate's ideal channel E_θg taken on its own (a composition of linear maps, one of
them E_θg). PAI gives per gate Σ_k w_k E_{θ_k} = E_θ exactly (``angle_quantization``), and a
setting s of all gates is drawn with probability Π_g |w_g,s_g| / γ_g, so q(s)·f(s) = Π_g w_g,s_g
with f(s) = Π_g γ_g sign(w_g,s_g). A trajectory is drawn given its setting (noise draws
independent of the setting draw), and for fixed angles the engine's trajectory mean is unbiased
for the noisy distribution (``batched_trajectories``, including the state-dependent damping
jumps). Hence E[f(s) p̂(s)] = Σ_s q(s) f(s) p(s) = Σ_s Π_g w_g,s_g p(s) = p(θ), gate by gate by
multilinearity: the mean of the weighted trajectories is the noisy distribution at the exact
angles. Drawing one setting per trajectory (not one per image) keeps the trajectories independent,
so the two halves still estimate the Monte Carlo error, which now includes the settings'.

The encode segment is run once per image for all heads (``BatchedTrajectories``: the blocks
before the first trainable rotation use head 0's matrices), so its gates get one draw per
trajectory shared by the heads, and its factors enter every head's weight once, which keeps each
head's estimate unbiased (the same reason as in ``quantized_attention``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from hqvit.compiler.hqvit import HQViTConfig
from hqvit.compiler.pipeline import CompiledCircuit
from hqvit.ir.angles import Angle, AngleTable
from hqvit.runtime.angle_quantization import ANGLE_MODES, interpolation_weights, round_angles, sample_settings
from hqvit.runtime.batched_trajectories import BatchedTrajectories
from hqvit.runtime.model import VisionTransformer
from hqvit.runtime.noisy_attention import NoisyAttention, engine_copy
from hqvit.runtime.noisy_program import RX, RZ, NoisyProgram
from hqvit.runtime.quant_settings import QuantSettings
from hqvit.runtime.quantized_model import quantum_scores


@dataclass(frozen=True)
class NoiseSpec:
    """The noisy evaluation of one sweep: the circuit compiled for the target, the noise scale,
    trajectories per image and head, and the seed of the trajectories. ``built`` keeps the noisy
    program and engine of the first backend built for it: every setting and block of the sweep
    evaluates the same compiled circuit at the same scale, so they share them (``NoisyAttention``'s
    ``built``) instead of building them once per setting and block."""

    compiled: CompiledCircuit
    scale: float = 1.0
    trajectories: int = 32
    seed: int = 0
    built: list[tuple[NoisyProgram, BatchedTrajectories]] = field(default_factory=list, compare=False, repr=False)


def slot_table(n_slots: int) -> AngleTable:
    """The identity angle table: 'symbols' are the slots' angles themselves."""
    names = [f"slot{k}" for k in range(n_slots)]
    return AngleTable([Angle.symbol(n) for n in names], names)


class NoisyQuantizedAttention(NoisyAttention):
    def __init__(
        self,
        cfg: HQViTConfig,
        compiled: CompiledCircuit,
        scale: float,
        bits: int,
        mode: str,
        trajectories: int = 32,
        seed: int = 0,
        built: tuple[NoisyProgram, BatchedTrajectories] | None = None,
    ):
        if mode not in ANGLE_MODES:
            raise ValueError(f"angle mode must be one of {ANGLE_MODES}, got {mode!r}")
        super().__init__(cfg, compiled, scale, trajectories, None, seed, built)
        self.bits, self.mode = bits, mode
        p = self.program
        # the same engine with the identity angle table (the fused blocks do not depend on it)
        self.quantized = engine_copy(self.engine, slot_table(len(p.table.const)))
        # the gates of the blocks all heads share (run once per image with head 0's matrices)
        end = p.block_start[self.engine.split]
        kinds, slots = p.elem_kind[:end], p.elem_slot[:end]
        self.shared = np.unique(slots[(kinds >= RX) & (kinds <= RZ)])
        self.overhead: list[float] = []  # interpolate: (Π γ)² per image and head

    def forward(self, data: np.ndarray, params: np.ndarray, valid: np.ndarray, states=None):
        # nothing is kept for ``vjp``: quantized angles are evaluated, not trained
        s, mask = super().forward(data, params, valid, None)
        if self.mode == "interpolate":
            # a weighted estimate can leave a valid token's marginal <= 0 (sampling error, not an
            # unobservable token): the mask stays the data's, as in QuantizedAngleAttention
            mask = np.asarray(valid, dtype=bool).copy()
        return s, mask

    def _trajectories(self, data: np.ndarray, params: np.ndarray, seed: int, record: bool) -> tuple[np.ndarray, None]:
        """(H, R, 2^n) per-trajectory distributions of one image (interpolate: each times its
        trajectory's factor, so their mean is the unbiased estimate)."""
        symbols = np.concatenate([np.broadcast_to(data, (params.shape[0], data.shape[0])), params], axis=1)
        angles = self.program.bind(symbols)  # (H, n_slots): every gate's angle, as the engine binds it
        rng = np.random.default_rng(seed)
        if self.mode == "round":
            probs, _ = self.quantized.run(round_angles(angles, self.bits), self.trajectories, rng)
            return probs, None
        heads = angles.shape[0]
        out = np.empty((heads, self.trajectories, 1 << self.n))
        for r in range(self.trajectories):
            chosen, factor = self.draw(angles, rng)
            probs, _ = self.quantized.run(chosen, 1, rng)
            out[:, r] = factor[:, None] * probs[:, 0]
        self.overhead.extend(float(x) for x in self.sampling_overhead(angles))
        return out, None

    def vjp(self, data, params, valid, grad_s, need_data: bool, states=None):
        raise ValueError("quantized angles are evaluated, not trained: there is no gradient through grid settings")

    def draw(self, angles: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """One PAI setting (H, n_slots) and its weight per head (H,); the shared gates' draws
        are head 0's for every head (their angles are the same: no trainable symbol reaches them)."""
        chosen, gate_factor = sample_settings(angles, self.bits, rng)
        chosen[1:, self.shared] = chosen[0, self.shared]
        gate_factor[1:, self.shared] = gate_factor[0, self.shared]
        return chosen, np.prod(gate_factor, axis=1)

    def sampling_overhead(self, angles: np.ndarray) -> np.ndarray:
        """(Π γ)² per head over the circuit's gates (H,)."""
        _, weights = interpolation_weights(angles, self.bits)
        return np.prod(np.abs(weights).sum(-1), axis=1) ** 2


@contextmanager
def noisy_angles(model: VisionTransformer, settings: QuantSettings, noise: NoiseSpec) -> Iterator[list[NoisyAttention]]:
    """Every quantum block evaluates S under ``noise`` on the target's compiled circuit, with the
    setting's angle grid (full-precision angles if ``angle_bits`` is None: plain
    ``NoisyAttention``, the noisy reference); the model's own backends are restored afterwards."""
    cfg = model.cfg.circuit
    modules = quantum_scores(model)
    saved = [m.qsim for m in modules]
    backends: list[NoisyAttention] = []
    for k in range(len(modules)):
        seed = noise.seed + 7 * k
        built = noise.built[0] if noise.built else None
        if settings.angle_bits is None:
            backend = NoisyAttention(cfg, noise.compiled, noise.scale, noise.trajectories, None, seed, built)
        else:
            backend = NoisyQuantizedAttention(
                cfg,
                noise.compiled,
                noise.scale,
                settings.angle_bits,
                settings.angle_mode,
                noise.trajectories,
                seed,
                built,
            )
        if not noise.built:
            noise.built.append((backend.program, backend.engine))
        backends.append(backend)
    try:
        for m, backend in zip(modules, backends, strict=True):
            m.qsim = backend
        yield backends
    finally:
        for m, backend in zip(modules, saved, strict=True):
            m.qsim = backend
