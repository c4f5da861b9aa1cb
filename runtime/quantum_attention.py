"""Attention scores S (B, H, T, T) from the compiled circuit on qsim, with parameter-shift gradients.

Every parameterized gate is an RX/RY/RZ whose angle is affine in the symbols, so for a symbol p
dS/dp = sum over gates g of coeff(g, p) * (S(angle_g + pi/2) - S(angle_g - pi/2)) / 2, exactly.
Shifts are applied to one gate's angle at a time, which stays correct after passes that merge
or duplicate rotations. Trainable shifts reuse the image's encoded state; data shifts (needed
only when the encoded tokens themselves carry gradients, i.e. in blocks after the first)
re-simulate the encoding segment.

That is the ``gradient="shift"`` path, kept as an option and as the test oracle, and always used
with a shot budget (S estimated from counts has no statevector to sweep) and for noisy circuits
(``noisy_attention``). The default for noiseless exact evaluation is ``gradient="adjoint"``
(``hqvit.runtime.adjoint``): the same S and the exact derivative from one reverse sweep over
the suffix, batched over images and heads, instead of 2 qsim runs per gate slot, image and head.
Its encoded state is built in closed form (``hqvit.runtime.closed_form_prefix``: a (x) a placed
by the layout at the encode / trainable boundary) once that construction has been checked
against qsim's simulation of the prefix for this circuit; otherwise it is simulated on qsim.
With the closed form, data gradients are torch autograd of x / ||x|| instead of a reverse sweep
through the encoding gates. The adjoint path works through a mini-batch in chunks of images that
keep its state arrays within ``state_budget`` bytes and each pass's arrays within a sub-batch of a
few MiB (``hqvit.runtime.state_budget``); every row's arithmetic is the same in any chunk, so
chunking changes S not at all and the gradients only by the order of their per-chunk sums.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import torch

from hqvit.compiler.hqvit import HQViTConfig
from hqvit.compiler.pipeline import CompiledCircuit, compile_hqvit
from hqvit.ir.circuit import compact
from hqvit.runtime.adjoint import AdjointEngine, AdjointState
from hqvit.runtime.closed_form_prefix import (
    FIDELITY_TOL,
    ClosedFormPrefix,
    StructureError,
    amplitudes_from_tokens,
    prefix_fidelity,
    verification_tokens,
)
from hqvit.runtime.encoding import data_bindings
from hqvit.runtime.qsim_backend import QsimExecutor, QsimOptions
from hqvit.runtime.readout import Readout, attention_from_joint
from hqvit.runtime.state_budget import (
    DEFAULT_STATE_BUDGET,
    SUB_BATCH_BYTES,
    ChunkPlan,
    plan_chunks,
    sub_batch_images,
)

SHIFT = math.pi / 2
GRADIENTS = ("adjoint", "shift")
PREFIXES = ("auto", "simulate")
logger = logging.getLogger(__name__)


class QsimAttention:
    """Evaluates S and its vector-Jacobian products for one compiled HQViT circuit."""

    def __init__(
        self,
        cfg: HQViTConfig,
        compiled: CompiledCircuit | None = None,
        shots: int | None = None,
        seed: int = 0,
        options: QsimOptions | None = None,
        gradient: str = "adjoint",
        dtype: torch.dtype = torch.complex64,
        prefix: str = "auto",
        fused: bool = True,
        state_budget: int = DEFAULT_STATE_BUDGET,
        sub_batch_bytes: int = SUB_BATCH_BYTES,
    ):
        """``gradient``: "adjoint" (noiseless exact evaluation; ignored with ``shots``, which
        always uses parameter shift) or "shift". ``dtype``: the adjoint path's state precision
        (complex128 for exactness checks; a simulated encoded state then comes from torch, not
        qsim). ``prefix``: "auto" builds the adjoint path's encoded state in closed form when
        the check against qsim passes (``prefix_path`` says which is used), "simulate" never.
        ``fused``: the adjoint path simulates the suffix as fused blocks (``fused_suffix``); False
        keeps the gate-by-gate sweep (a reference for tests and benchmarks). ``state_budget``: bytes
        of state arrays the adjoint path may hold at once; larger batches are simulated in chunks
        of images (``hqvit.runtime.state_budget``). ``sub_batch_bytes``: the size of one pass's state
        array that sets the sub-batch (the same S; gradients to float32 rounding)."""
        if gradient not in GRADIENTS:
            raise ValueError(f"gradient must be one of {GRADIENTS}, got {gradient!r}")
        if prefix not in PREFIXES:
            raise ValueError(f"prefix must be one of {PREFIXES}, got {prefix!r}")
        self.cfg = cfg
        self.compiled = compiled or compile_hqvit(cfg)
        # simulate only the qubits the compiled circuit touches (a device may have 100+)
        circuit, remap = compact(self.compiled.circuit, keep=self.compiled.final_layout)
        final = [remap[p] for p in self.compiled.final_layout]
        self.executor = QsimExecutor(circuit, options)
        self.readout = Readout(cfg, self.compiled.logical.registers, final, circuit.num_qubits)
        if state_budget < 1:
            raise ValueError(f"state_budget must be a positive number of bytes, got {state_budget}")
        self.state_budget = state_budget
        if sub_batch_bytes < 1:
            raise ValueError(f"sub_batch_bytes must be a positive number of bytes, got {sub_batch_bytes}")
        self.sub_batch_bytes = sub_batch_bytes
        if shots is not None and shots < 1:
            raise ValueError(f"shots must be positive, got {shots}")
        self.shots = shots
        self.rng = np.random.default_rng(seed)
        n_data = len(self.executor.data_symbols)
        ex = self.executor
        # gate slots whose angle depends on trainable / data symbols, with their coefficients
        self.suffix_coeff = ex.suffix.table.coeff[:, n_data:]
        self.suffix_slots = np.flatnonzero(np.any(self.suffix_coeff != 0, axis=1))
        self.prefix_coeff = ex.prefix.table.coeff[:, :n_data]
        self.prefix_slots = np.flatnonzero(np.any(self.prefix_coeff != 0, axis=1))
        self.gradient = gradient if shots is None else "shift"
        self.adjoint = AdjointEngine(circuit, self.readout, dtype, fused) if self.gradient == "adjoint" else None
        self.closed_form: ClosedFormPrefix | None = None
        self.prefix_path = "simulated"  # how the adjoint path gets its encoded state
        self.prefix_check = ""  # why: the verified fidelity, or the reason for the fallback
        if self.adjoint is not None:
            if prefix == "auto":
                self._try_closed_form(circuit, remap)
            else:
                self.prefix_check = "closed form not requested"
            logger.info("adjoint encoded state: %s (%s)", self.prefix_path, self.prefix_check)

    def _try_closed_form(self, circuit, remap: dict[int, int]) -> None:
        """Build the closed-form prefix and keep it only if it matches qsim's prefix state on
        random images (fidelity within ``FIDELITY_TOL``); else the prefix stays simulated."""
        ex = self.executor
        try:
            initial = [remap[p] for p in self.compiled.initial_layout]
        except KeyError:
            self.prefix_check = "initial layout on a qubit the circuit does not use"
            return
        try:
            closed = ClosedFormPrefix(
                circuit, self.compiled.logical.registers, initial, ex.data_symbols, ex.trainable_symbols
            )
        except StructureError as e:
            self.prefix_check = str(e)
            return
        tokens = verification_tokens(self.cfg.tokens, self.cfg.features)
        data = data_bindings(tokens)
        no_params = np.zeros(len(ex.trainable_symbols))
        simulated = np.stack([ex.prefix_state(ex.prefix.table.bind(ex.symbol_vector(d, no_params))) for d in data])
        fid = min(
            prefix_fidelity(closed.state(amplitudes_from_tokens(tokens)), simulated).min(),
            prefix_fidelity(closed.from_angles(data), simulated).min(),
        )
        if not fid >= 1 - FIDELITY_TOL:
            self.prefix_check = f"closed form disagrees with qsim's prefix (fidelity {fid:.3g})"
            return
        self.closed_form, self.prefix_path = closed, "closed-form"
        self.prefix_check = f"fidelity {fid:.7f} with qsim's prefix on {len(tokens)} random images"

    # -- evaluation -------------------------------------------------------------------------
    def _joint(self, probs: np.ndarray) -> np.ndarray:
        """(K, 2^N) -> P(a, i, j) (K, 2, T, T): exact, or frequencies of ``shots`` samples."""
        joint = self.readout.joint(probs)
        if self.shots is not None:
            k = joint.shape[0]
            flat = joint.reshape(k, -1)
            flat = np.clip(flat, 0.0, None) / flat.sum(axis=1, keepdims=True)
            counts = np.stack([self.rng.multinomial(self.shots, p) for p in flat])
            joint = (counts / self.shots).reshape(joint.shape)
        return joint

    def _scores(self, probs: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return attention_from_joint(self._joint(probs), valid)

    def _suffix_angles(self, data: np.ndarray, params: np.ndarray) -> np.ndarray:
        ex = self.executor
        return ex.suffix.table.bind(ex.symbol_vector(data[None, :], params))  # (H, n_suffix)

    def forward(
        self, data: np.ndarray, params: np.ndarray, valid: np.ndarray, states: list | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """data (B, n_data), params (H, n_trainable), valid (B, T) -> S (B, H, T, T), mask (B, T).
        If ``states`` is a list, each image's encoded state is appended to it (for ``vjp``)."""
        ex = self.executor
        if self.adjoint is not None:
            plan = self.plan(data.shape[0], params.shape[0], states is not None)
            parts = []
            for c in plan.chunks(plan.forward):
                # kept: each chunk's state, with the images it covers, for ``vjp``; else nothing is
                # kept and ``vjp`` recomputes chunk by chunk
                s, mask, state = self.adjoint.forward(
                    data[c], params, valid[c], self._encoded(data[c], params), keep=plan.keep
                )
                if plan.keep and states is not None:
                    states.append(_Kept(c, state))
                parts.append((s, mask))
                del state
            return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
        b, h, t = data.shape[0], params.shape[0], self.cfg.tokens
        s_out = np.zeros((b, h, t, t))
        mask_out = np.zeros((b, t), dtype=bool)
        for i in range(b):
            state = ex.prefix_state(ex.prefix.table.bind(ex.symbol_vector(data[i], params[0])))
            if states is not None:
                states.append(state)
            s, m = self._scores(ex.suffix_probabilities(state, self._suffix_angles(data[i], params)), valid[i])
            s_out[i] = s
            mask_out[i] = m.all(axis=0)
        return s_out, mask_out

    def plan(self, images: int, heads: int, grad: bool) -> ChunkPlan:
        """How the adjoint path splits ``images`` images (``grad``: a backward follows): within the
        budget, and in sub-batches whose state arrays (``heads`` rows per image) stay small."""
        engine = self.adjoint
        keep, forward = engine.state_bytes(heads, True), engine.state_bytes(heads, False)
        sub = sub_batch_images(engine.array_bytes(heads), self.sub_batch_bytes)
        return plan_chunks(images, keep, forward, self.state_budget, grad, sub)

    def _real(self) -> torch.dtype:
        """The closed-form prefix's dtype: the state's precision (the engine would round it)."""
        return torch.float32 if self.adjoint.dtype in (torch.float32, torch.complex64) else torch.float64

    def closed_form_forward(
        self, amplitudes: torch.Tensor, params: np.ndarray, valid: np.ndarray, grad: bool
    ) -> tuple[np.ndarray, np.ndarray, list | None]:
        """amplitudes (B, 2^n) of one copy -> S (B, H, T, T), mask (B, T) and, when ``grad`` and the
        batch's states fit the budget, what ``closed_form_vjp`` needs: (images, (leaf, prefix,
        state)) per chunk (else None: it recomputes)."""
        b, h = amplitudes.shape[0], params.shape[0]
        plan = self.plan(b, h, grad)
        engine = self.adjoint
        zeros = np.zeros((b, engine.n_data))  # the suffix does not read them (checked)
        parts, kept = [], []
        for c in plan.chunks(plan.forward):
            if plan.keep:
                leaf, prefix = self._closed_prefix(amplitudes[c])
                s, mask, state = engine.forward(zeros[c], params, valid[c], prefix.detach())
                kept.append((c, (leaf, prefix, state)))
            else:
                with torch.no_grad():
                    prefix = self.closed_form.state(amplitudes[c].to(self._real()))
                s, mask, state = engine.forward(zeros[c], params, valid[c], prefix, keep=False)
            parts.append((s, mask))
            del prefix, state
        s, mask = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
        return s, mask, (kept if plan.keep else None)

    def _closed_prefix(self, amplitudes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(a leaf for the amplitudes, the prefix state built from it with autograd's graph)."""
        leaf = amplitudes.detach().requires_grad_()
        with torch.enable_grad():
            return leaf, self.closed_form.state(leaf.to(self._real()))

    def closed_form_vjp(
        self,
        amplitudes: torch.Tensor,
        params: np.ndarray,
        valid: np.ndarray,
        grad_s: np.ndarray,
        need_amplitudes: bool,
        kept: list | None,
    ) -> tuple[np.ndarray, torch.Tensor | None]:
        """grad_s (B, H, T, T) -> dL/dparams (H, n_trainable), dL/damplitudes (B, 2^n) or None.
        ``kept``: ``closed_form_forward``'s; None recomputes each chunk's forward first."""
        b, h = amplitudes.shape[0], params.shape[0]
        engine = self.adjoint
        if kept is not None:
            todo = kept
        else:
            plan = self.plan(b, h, True)
            todo = [(c, None) for c in plan.chunks(plan.backward)]
        g_params = np.zeros(params.shape)
        g_amp = torch.zeros_like(amplitudes) if need_amplitudes else None
        while todo:
            c, chunk = todo.pop(0)  # popped: each chunk's states are freed once swept
            if chunk is None:
                leaf, prefix = self._closed_prefix(amplitudes[c])
                state = engine.forward(np.zeros((leaf.shape[0], engine.n_data)), params, valid[c], prefix.detach())[2]
            else:
                leaf, prefix, state = chunk
            g, g_prefix = engine.vjp_prefix(state, grad_s[c], need_amplitudes, release=True)
            del state
            g_params += g
            if need_amplitudes:
                (g_amp[c],) = torch.autograd.grad(prefix, leaf, g_prefix.to(prefix.dtype))
            del leaf, prefix, chunk, g_prefix
        return g_params, g_amp

    def _encoded(self, data: np.ndarray, params: np.ndarray) -> torch.Tensor | None:
        """Encoded states in closed form (float64) when verified, else from qsim (faster than
        torch for the long encoding) in single precision; None lets the adjoint engine compute
        them at its own (double) precision."""
        if self.closed_form is not None:
            return self.closed_form.from_angles(torch.from_numpy(data))
        if self.adjoint is None or self.adjoint.dtype in (torch.complex128, torch.float64):
            return None
        ex = self.executor
        bound = ex.prefix.table.bind(ex.symbol_vector(data, params[0]))
        return torch.from_numpy(np.stack([ex.prefix_state(angles) for angles in bound]))

    def vjp(
        self,
        data: np.ndarray,
        params: np.ndarray,
        valid: np.ndarray,
        grad_s: np.ndarray,
        need_data: bool,
        states: list | None = None,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """grad_s (B, H, T, T) -> (dL/dparams (H, n_trainable), dL/ddata (B, n_data) or None).
        ``states``: the encoded states ``forward`` kept, so they are not simulated again."""
        if self.adjoint is not None:
            kept = [k for k in states if isinstance(k, _Kept)] if states else []
            if not kept:  # nothing kept (the batch's states did not fit, or no forward ran): recompute
                plan = self.plan(data.shape[0], params.shape[0], True)
                kept = [_Kept(c, None) for c in plan.chunks(plan.backward)]
            if states:
                states.clear()  # each chunk's states are freed once swept
            g_params, g_data = np.zeros(params.shape), []
            for k in kept:
                c, chunk = k.images, k.state
                k.state = None
                if chunk is None:
                    chunk = self.adjoint.forward(data[c], params, valid[c], self._encoded(data[c], params))[2]
                g, gd = self._adjoint_vjp(chunk, data[c], grad_s[c], need_data)
                del chunk
                g_params += g
                g_data.append(gd)
            return g_params, np.concatenate(g_data) if need_data else None
        ex = self.executor
        b, h = data.shape[0], params.shape[0]
        slots = self.suffix_slots
        g_params = np.zeros_like(params, dtype=np.float64)
        g_data = np.zeros_like(data, dtype=np.float64) if need_data else None
        for i in range(b):
            base_prefix = ex.prefix.table.bind(ex.symbol_vector(data[i], params[0]))
            state = states[i] if states is not None else ex.prefix_state(base_prefix)
            base = self._suffix_angles(data[i], params)  # (H, n_suffix)
            # (H, 2, G, n_suffix): every head's angles with one slot shifted up / down
            shifted = np.repeat(base[:, None, None, :], 2, axis=1).repeat(len(slots), axis=2)
            idx = np.arange(len(slots))
            shifted[:, 0, idx, slots] += SHIFT
            shifted[:, 1, idx, slots] -= SHIFT
            s, _ = self._scores(ex.suffix_probabilities(state, shifted.reshape(-1, base.shape[1])), valid[i])
            s = s.reshape(h, 2, len(slots), *s.shape[1:])
            d_slot = 0.5 * (s[:, 0] - s[:, 1])  # (H, G, T, T)
            contrib = np.einsum("hgij,hij->hg", d_slot, grad_s[i])
            g_params += contrib @ self.suffix_coeff[slots]
            if need_data:
                g_data[i] = self._data_vjp(base_prefix, state, base, valid[i], grad_s[i])
        return g_params, g_data

    def _adjoint_vjp(
        self, kept: AdjointState, data: np.ndarray, grad_s: np.ndarray, need_data: bool
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """``vjp`` of the images whose forward state is ``kept``."""
        if self.closed_form is None or not need_data:
            return self.adjoint.vjp(kept, grad_s, need_data, release=True)
        # d prefix / d angles by autograd of the closed form, not a sweep through the encoding
        g_params, g_prefix = self.adjoint.vjp_prefix(kept, grad_s, release=True)
        angles = torch.from_numpy(data).requires_grad_()
        with torch.enable_grad():
            prefix = self.closed_form.from_angles(angles)
            (g_data,) = torch.autograd.grad(prefix, angles, g_prefix.to(prefix.dtype))
        return g_params, g_data.numpy()

    def _data_vjp(
        self, base_prefix: np.ndarray, state: np.ndarray, suffix: np.ndarray, valid: np.ndarray, grad_s: np.ndarray
    ) -> np.ndarray:
        """Data angles change P0 + P1 = p_i p_j too, so S = (P0 - P1) / (P0 + P1) is not an
        expectation value: shift P0 and P1 (which are), then apply the quotient rule."""
        ex = self.executor
        joint = self._joint(ex.suffix_probabilities(state, suffix))
        s, mask = attention_from_joint(joint, valid)  # (H, T, T)
        total = joint[:, 0] + joint[:, 1]
        pair = mask[:, :, None] & mask[:, None, :] & (total > 0)
        safe_total = np.where(pair, total, 1.0)
        contrib = np.zeros(len(self.prefix_slots))
        for n, slot in enumerate(self.prefix_slots):
            pair_joint = []
            for sign in (1.0, -1.0):
                angles = base_prefix.copy()
                angles[slot] += sign * SHIFT
                pair_joint.append(self._joint(ex.suffix_probabilities(ex.prefix_state(angles), suffix)))
            d = 0.5 * (pair_joint[0] - pair_joint[1])  # d P(a, i, j) / d angle
            ds = (d[:, 0] - d[:, 1] - s * (d[:, 0] + d[:, 1])) / safe_total
            contrib[n] = np.sum(np.where(pair, ds, 0.0) * grad_s)
        return contrib @ self.prefix_coeff[self.prefix_slots]


@dataclass
class _Kept:
    """The adjoint state of the chunk of ``images`` kept from the forward (None once swept)."""

    images: slice
    state: AdjointState | None


class _QsimAttentionFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, data, params, valid, backend: QsimAttention, grad: bool):
        # keep each image's encoded state for backward only when a gradient will be asked for
        states = [] if grad and any(ctx.needs_input_grad[:2]) else None
        s, mask = backend.forward(data.detach().numpy(), params.detach().double().numpy(), valid.numpy(), states)
        ctx.save_for_backward(data, params, valid)
        ctx.backend, ctx.states = backend, states
        mask_t = torch.from_numpy(mask)
        ctx.mark_non_differentiable(mask_t)
        return torch.from_numpy(s), mask_t

    @staticmethod
    def backward(ctx, grad_s, _grad_mask):
        data, params, valid = ctx.saved_tensors
        need_data = ctx.needs_input_grad[0]
        g_params, g_data = ctx.backend.vjp(
            data.detach().numpy(),
            params.detach().double().numpy(),
            valid.numpy(),
            grad_s.numpy(),
            need_data,
            ctx.states,
        )
        ctx.states = None
        g_data_t = torch.from_numpy(g_data).to(data.dtype) if g_data is not None else None
        return g_data_t, torch.from_numpy(g_params).to(params.dtype), None, None, None


class _ClosedFormAttentionFn(torch.autograd.Function):
    """S from the amplitudes (B, 2^n) of one copy, whose closed-form encoded state a (x) a is built
    inside, chunk by chunk within the state budget; backward returns dL/damplitudes, which torch
    carries on to the tokens through x / ||x||."""

    @staticmethod
    def forward(ctx, amplitudes, params, valid, backend: QsimAttention, grad: bool):
        # ``grad``: whether autograd records this call, read by the caller (inside a Function's
        # forward grad mode is always off, so it cannot be read here)
        grad = grad and any(ctx.needs_input_grad[:2])
        p, v = params.detach().double().numpy(), valid.numpy()
        s, mask, kept = backend.closed_form_forward(amplitudes.detach(), p, v, grad)
        ctx.backend, ctx.kept = backend, kept
        ctx.param_dtype = params.dtype
        ctx.save_for_backward(amplitudes, params, valid)
        mask_t = torch.from_numpy(mask)
        ctx.mark_non_differentiable(mask_t)
        return torch.from_numpy(s), mask_t

    @staticmethod
    def backward(ctx, grad_s, _grad_mask):
        amplitudes, params, valid = ctx.saved_tensors
        kept, ctx.kept = ctx.kept, None
        # the co-state is carried back to the encoded state only when the tokens need a gradient
        g_params, g_amp = ctx.backend.closed_form_vjp(
            amplitudes.detach(),
            params.detach().double().numpy(),
            valid.numpy(),
            grad_s.numpy(),
            ctx.needs_input_grad[0],
            kept,
        )
        del kept
        return g_amp, torch.from_numpy(g_params).to(ctx.param_dtype), None, None, None


def qsim_attention(
    tokens: torch.Tensor, params: torch.Tensor, backend: QsimAttention
) -> tuple[torch.Tensor, torch.Tensor]:
    """tokens (B, T, d), params (H, n_trainable) -> S (B, H, T, T) float64, mask (B, T)."""
    valid = (tokens.detach() ** 2).sum(-1) > 0
    grad = torch.is_grad_enabled()
    if backend.closed_form is not None:
        # a (x) a is built chunk by chunk inside, at the state's precision
        return _ClosedFormAttentionFn.apply(amplitudes_from_tokens(tokens), params, valid, backend, grad)
    data = data_bindings(tokens)
    return _QsimAttentionFn.apply(data, params, valid, backend, grad)
