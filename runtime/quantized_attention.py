"""Attention scores S from the compiled circuit with every rotation angle on a B-bit grid.

``QuantizedAngleAttention`` has the interface of ``QsimAttention.forward`` (with ``closed_form``
None, so ``qsim_attention`` hands it the data angles), so a trained model runs with it unchanged. It binds the
compiled circuit's angles exactly as ``QsimAttention`` does (data angles from the image,
trainable angles from the parameters) and then quantizes each *gate's* angle, the value the
control electronics would be asked for, whatever symbols it was built from:

- ``round``: one statevector per image and head with the rounded angles;
- ``interpolate``: ``samples`` independent PAI draws of all the circuit's angles per image and
  head (``hqvit.runtime.angle_quantization``); the measured distribution is the factor-weighted
  mean of the draws' exact distributions, an unbiased estimate of the exact circuit's. Each draw
  is simulated exactly, so the only sampling error is that of the angle settings (a device would
  add shot noise on top).

The encode segment and the later segments are drawn independently (one encoded state per draw
is reused for every head), which keeps each head's estimate unbiased. Each run's distribution
P(a, i, j) is computed in closed form where that is verified against qsim for this circuit
(``hqvit.runtime.quantized_closed_form``), else simulated on qsim gate by gate.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hqvit.compiler.hqvit import HQViTConfig
from hqvit.compiler.pipeline import CompiledCircuit
from hqvit.runtime.angle_quantization import ANGLE_MODES, round_angles, sample_interpolated, sampling_overhead
from hqvit.runtime.quantized_closed_form import build as build_closed_form
from hqvit.runtime.quantum_attention import QsimAttention
from hqvit.runtime.readout import attention_from_joint


@dataclass
class AngleRecord:
    """Per (image, head) of the interpolated path: the sampling overhead (Π γ)² of prefix and suffix."""

    overhead: list[float] = field(default_factory=list)


class QuantizedAngleAttention:
    closed_form = None  # angles are quantized per gate: no closed-form encoded state

    def __init__(
        self,
        cfg: HQViTConfig,
        bits: int,
        mode: str,
        samples: int = 32,
        seed: int = 0,
        compiled: CompiledCircuit | None = None,
        closed_form_check: bool = True,
    ):
        """``closed_form_check``: compute each draw's distribution in closed form where that is
        verified to match qsim (``hqvit.runtime.quantized_closed_form``); False simulates every
        draw on qsim."""
        if mode not in ANGLE_MODES:
            raise ValueError(f"angle mode must be one of {ANGLE_MODES}, got {mode!r}")
        if mode == "interpolate" and samples < 1:
            raise ValueError(f"interpolation needs at least 1 sample, got {samples}")
        self.cfg, self.bits, self.mode, self.samples = cfg, bits, mode, samples
        self.exact = QsimAttention(cfg, compiled, gradient="shift")  # its executor and readout
        self.executor, self.readout = self.exact.executor, self.exact.readout
        self.rng = np.random.default_rng(seed)
        self.record = AngleRecord()
        # the distribution in closed form where that is checked to match qsim (quantized_closed_form)
        self.closed = (
            None
            if not closed_form_check
            else build_closed_form(cfg, self.executor, self.exact.compiled, self.readout, seed)
        )
        self.engine = "closed-form" if self.closed is not None else "qsim"

    def forward(self, data: np.ndarray, params: np.ndarray, valid: np.ndarray, states=None):
        """data (B, n_data), params (H, n_trainable), valid (B, T) -> S (B, H, T, T), mask (B, T)."""
        ex = self.executor
        b, h, t = data.shape[0], params.shape[0], self.cfg.tokens
        s_out = np.zeros((b, h, t, t))
        mask_out = np.zeros((b, t), dtype=bool)
        prefix = ex.prefix.table.bind(ex.symbol_vector(data, params[0]))  # (B, n_prefix)
        for i in range(b):
            suffix = ex.suffix.table.bind(ex.symbol_vector(data[i][None, :], params))  # (H, n_suffix)
            joint = self._round(prefix[i], suffix) if self.mode == "round" else self._interpolate(prefix[i], suffix)
            s, m = attention_from_joint(joint, valid[i])
            s_out[i] = s
            # an interpolated estimate is unbiased but noisy: a valid token's estimated marginal
            # can come out <= 0, which is sampling error, not a token that cannot be observed
            # (its S entries are 0 then); the mask stays the data's
            mask_out[i] = m.all(axis=0) if self.mode == "round" else valid[i]
        return s_out, mask_out

    def _joint(self, prefix: np.ndarray, suffix: np.ndarray) -> np.ndarray:
        """Gate angles of K circuit runs, (K, n_prefix) and (K, n_suffix) -> P(a, i, j) (K, 2, T, T)."""
        if self.closed is not None:
            return self.closed.joint(prefix, suffix)
        ex = self.executor
        probs = [ex.suffix_probabilities(ex.prefix_state(p), s[None]) for p, s in zip(prefix, suffix, strict=True)]
        return self.readout.joint(np.concatenate(probs))

    def _round(self, prefix: np.ndarray, suffix: np.ndarray) -> np.ndarray:
        """(H, 2, T, T) with every angle on its nearest grid point."""
        h = suffix.shape[0]
        return self._joint(np.repeat(round_angles(prefix, self.bits)[None], h, axis=0), round_angles(suffix, self.bits))

    def _interpolate(self, prefix: np.ndarray, suffix: np.ndarray) -> np.ndarray:
        """(H, 2, T, T): the factor-weighted mean over ``samples`` draws of the exact P(a, i, j)."""
        h = suffix.shape[0]
        m = self.samples
        pre_angles, pre_factor = sample_interpolated(np.broadcast_to(prefix, (m, prefix.size)), self.bits, self.rng)
        suf_angles, suf_factor = sample_interpolated(
            np.broadcast_to(suffix, (m, *suffix.shape)).reshape(m * h, -1), self.bits, self.rng
        )
        # one encoded state per draw, shared by the heads: draw-major, then head
        joint = self._joint(np.repeat(pre_angles, h, axis=0), suf_angles)
        joint = joint.reshape(m, h, *joint.shape[1:])
        factor = pre_factor[:, None] * suf_factor.reshape(m, h)
        overhead = sampling_overhead(prefix[None], self.bits)[0] * sampling_overhead(suffix, self.bits)
        self.record.overhead.extend(float(x) for x in overhead)
        return np.einsum("mh,mh...->h...", factor, joint) / m
