"""The measured distribution of the compiled circuit for *quantized* gate angles, in closed form.

Quantizing gate by gate (rounding, or drawing PAI settings independently per gate) leaves the
circuit's structure intact: each copy is a Möttönen tree with its own angles θ1, θ2 (the two
copies' gates are drawn independently, so θ1 ≠ θ2 in general), and U_Q, U_K are the RY ansatz
with their own angles. The swap test then gives, exactly as for unquantized angles (the
circuit spec's identity, with a_c = a(θ_c) the tree's amplitudes (``amplitudes_from_angles``
of ``closed_form_prefix``, here with its matrices cached) in the token-major
(T, d) layout and the token norms n_c,i = ||a_c,i||²):

    P(a, i, j) = (n_1,i n_2,j ± (U_Q a_1,i · U_K a_2,j)²) / 2,   + for a = 0, − for a = 1.

That needs every encode rotation to be c·θ_s of one data symbol s on one copy's qubits (each
symbol once per copy) and every later rotation c·φ_p of one trainable symbol p (each once), so
that grid angles map back to (θ1, θ2, φ) by division. The structure is read from the compiled
circuit and then *checked* against qsim (``build``): the closed form must give qsim's P(a, i, j)
for random, independent angles of every gate; otherwise ``build`` returns None and the caller
simulates every draw on qsim. Used for speed: a draw costs O(T d²) instead of a 2^N statevector
(the encode segment alone is ~1000 gates on 16 qubits for MNIST 16×16).
"""

from __future__ import annotations

import numpy as np
import torch

from hqvit.compiler.hqvit import HQViTConfig
from hqvit.compiler.pipeline import CompiledCircuit
from hqvit.ir.circuit import compact
from hqvit.ir.encoding import gray_inverse_matrix
from hqvit.runtime.exact import ansatz_unitary, split_head_params
from hqvit.runtime.qsim_backend import QsimExecutor
from hqvit.runtime.readout import Readout

CHECK_TOL = 1e-5  # float32 qsim against the float64 closed form, on probabilities <= 1


def _one_symbol_per_slot(coeff: np.ndarray, const: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(slot -> symbol, slot -> coefficient) if every slot is c·symbol with no constant."""
    nonzero = coeff != 0
    if np.any(const != 0) or np.any(nonzero.sum(1) != 1):
        return None
    symbol = np.argmax(nonzero, axis=1)
    return symbol, coeff[np.arange(len(symbol)), symbol]


def tree_amplitudes(theta: torch.Tensor, levels: list[torch.Tensor]) -> torch.Tensor:
    """``amplitudes_from_angles`` with the Gray-code matrices M_k^T computed once (``levels``)
    rather than per call (a 128 x 128 Python loop per call at MNIST 16x16): level k's
    alpha = theta_k M_k^T splits the amplitude of prefix s into cos(alpha_s/2), sin(alpha_s/2)."""
    amp = torch.ones(theta.shape[0], 1, dtype=torch.float64)
    col = 0
    for m in levels:
        alpha = theta[:, col : col + m.shape[0]] @ m
        col += m.shape[0]
        amp = torch.stack((amp * torch.cos(alpha / 2), amp * torch.sin(alpha / 2)), -1).reshape(amp.shape[0], -1)
    return amp


class QuantizedClosedForm:
    """Gate angles of the encode segment (K, n_prefix) and of the rest (K, n_suffix) -> P(a, i, j)."""

    def __init__(
        self,
        cfg: HQViTConfig,
        copy_slots: np.ndarray,
        prefix_coeff: np.ndarray,
        param_slots: np.ndarray,
        suffix_coeff: np.ndarray,
    ):
        self.cfg = cfg
        self.copy_slots = copy_slots  # (2, n_data): the prefix slot of each symbol on each copy
        self.prefix_coeff = prefix_coeff
        self.param_slots = param_slots  # (n_trainable,) in cfg.trainable_symbols() order
        self.suffix_coeff = suffix_coeff
        self.levels = [
            torch.as_tensor(gray_inverse_matrix(k) * (1 << k), dtype=torch.float64) for k in range(cfg.copy_qubits)
        ]

    def joint(self, prefix_angles: np.ndarray, suffix_angles: np.ndarray) -> np.ndarray:
        cfg = self.cfg
        k, t, d = prefix_angles.shape[0], cfg.tokens, cfg.features
        theta = torch.from_numpy(prefix_angles / self.prefix_coeff)
        a1, a2 = (tree_amplitudes(theta[:, self.copy_slots[c]], self.levels).reshape(k, t, d) for c in (0, 1))
        params = torch.from_numpy((suffix_angles / self.suffix_coeff)[:, self.param_slots])
        uq, uk = (ansatz_unitary(p) for p in split_head_params(params, cfg))  # (K, d, d)
        overlap = torch.einsum("kef,kif,kej->kij", uq, a1, torch.einsum("keg,kjg->kej", uk, a2))
        norms = (a1 * a1).sum(-1)[:, :, None] * (a2 * a2).sum(-1)[:, None, :]
        return (torch.stack([norms + overlap**2, norms - overlap**2], dim=1) / 2).numpy()


def build(
    cfg: HQViTConfig, executor: QsimExecutor, compiled: CompiledCircuit, readout: Readout, seed: int = 0
) -> QuantizedClosedForm | None:
    """The closed form for ``executor``'s circuit if its structure allows it and it reproduces
    qsim's P(a, i, j) for random independent gate angles; None otherwise."""
    ex = executor
    n_data = len(ex.data_symbols)
    pre = _one_symbol_per_slot(ex.prefix.table.coeff[:, :n_data], ex.prefix.table.const)
    suf = _one_symbol_per_slot(ex.suffix.table.coeff[:, n_data:], ex.suffix.table.const)
    if pre is None or suf is None or np.any(ex.suffix.table.coeff[:, :n_data]) or n_data != (1 << cfg.copy_qubits) - 1:
        return None
    # which copy each encode rotation acts on: its qubit under the initial layout
    registers = compiled.logical.registers
    if any(r not in registers for r in ("index1", "feature1", "index2", "feature2")):
        return None
    _, remap = compact(compiled.circuit, keep=compiled.final_layout)  # as QsimAttention simulates it
    if not all(p in remap for p in compiled.initial_layout):
        return None
    initial = [remap[p] for p in compiled.initial_layout]
    copies = [{initial[q] for q in registers[f"index{c}"] + registers[f"feature{c}"]} for c in (1, 2)]
    copy = np.full(len(pre[0]), -1)
    for _, qubits, _, slot in ex.prefix.templates:
        if slot >= 0:
            touched = {ex.num_qubits - 1 - q for q in qubits}  # qsim numbers qubits in reverse
            copy[slot] = 0 if touched <= copies[0] else 1 if touched <= copies[1] else -1
    copy_slots = np.full((2, n_data), -1)
    for c in (0, 1):
        slots = np.flatnonzero(copy == c)
        if sorted(pre[0][slots].tolist()) != list(range(n_data)):
            return None
        copy_slots[c, pre[0][slots]] = slots
    names = [ex.trainable_symbols[s] for s in suf[0]]
    wanted = cfg.trainable_symbols()
    if sorted(names) != sorted(wanted):
        return None
    param_slots = np.array([names.index(p) for p in wanted])
    closed = QuantizedClosedForm(cfg, copy_slots, pre[1], param_slots, suf[1])
    rng = np.random.default_rng(seed)
    pre_angles = rng.uniform(0, 2 * np.pi, (3, ex.prefix.num_angles))
    suf_angles = rng.uniform(0, 2 * np.pi, (3, ex.suffix.num_angles))
    simulated = np.stack(
        [
            readout.joint(ex.suffix_probabilities(ex.prefix_state(p), s[None]))[0]
            for p, s in zip(pre_angles, suf_angles, strict=True)
        ]
    )
    if not np.abs(closed.joint(pre_angles, suf_angles) - simulated).max() <= CHECK_TOL:
        return None
    return closed
