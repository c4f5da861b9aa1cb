"""Adjoint (reverse-mode) gradients of the attention scores, batched over images and heads.

A segment of the lowered circuit is simulated in torch on a (K, 2^N) complex state, K = images
x heads, one gate at a time by reshaping the state (qubit 0 the most significant bit), never
with a dense 2^N x 2^N matrix. The loss L depends on the final state psi only through the
probabilities p = |psi|^2, so with the co-state phi = (dL/dp) * psi

    dL/dtheta_g = 2 Re <phi_g | dU_g/dtheta | psi_{g-1}> = Im <phi_g | P_g | psi_g>

for a rotation U_g = exp(-i theta P_g / 2), where psi_g = U_g ... U_1 psi_0 and
phi_g = U_{g+1}^dagger ... U_M^dagger phi. One reverse sweep that un-applies every gate to psi
and phi together yields every gate occurrence's derivative with two states per image and head
(memory O(K 2^N), no state stored per gate). The identity holds exactly for any circuit, so the
result is the exact derivative up to floating-point rounding, like the parameter-shift rule.
Angles are affine in the symbols (``hqvit.ir.angles``), so dL/dsymbol = sum_g coeff(g) dL/dtheta_g.
dL/dp comes from autograd through the readout, which covers S = (P0 - P1) / (P0 + P1) and its
data dependence (the quotient rule) without special cases. Data gradients continue the sweep
through the encoding segment with the co-states of all heads summed, since every head starts
from the same encoded state.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

import numpy as np
import torch

from hqvit.ir.angles import AngleTable
from hqvit.ir.circuit import Circuit, Gate
from hqvit.ir.gates import gate_unitary
from hqvit.runtime.fused_suffix import FusedState, FusedSuffix
from hqvit.runtime.readout import Readout, attention_torch, joint_torch

# u3(theta, phi, lam) = RZ(phi) RY(theta) RZ(lam) up to phase: three rotations in time order
_U3_PARTS = (("rz", 2), ("ry", 0), ("rz", 1))
_ROTATIONS = ("rx", "ry", "rz")
_LETTERS = string.ascii_letters[:-1]  # 'Z' is the batch axis of the einsum equations


@dataclass(frozen=True)
class _Op:
    kind: str  # rx | ry | rz (angle in ``slot``) | cx | cz | swap | 1q (fixed 2x2) | dense (fixed k-qubit)
    qubits: tuple[int, ...]
    slot: int = -1
    matrix: np.ndarray | None = None  # fixed gates: the unitary
    adjoint: np.ndarray | None = None  # ... and its conjugate transpose
    equation: str = ""  # dense gates: the einsum that applies them


def _einsum_equation(qubits: tuple[int, ...], n: int) -> str:
    k = len(qubits)
    state = list(_LETTERS[:n])
    out = list(_LETTERS[n : n + k])
    result = list(state)
    for i, q in enumerate(qubits):
        result[q] = out[i]
    return f"{''.join(out)}{''.join(state[q] for q in qubits)},Z{''.join(state)}->Z{''.join(result)}"


class BatchedSegment:
    """One segment of a lowered circuit as torch operations on (K, 2^N) states.

    ``symbols`` (K, n_symbols) bind every rotation angle (``angles``); ``run`` applies the
    segment; ``backward`` sweeps it in reverse and returns dL/dangle for every rotation slot.
    """

    def __init__(self, gates: list[Gate], num_qubits: int, symbol_order: list[str]):
        if num_qubits + 3 > len(_LETTERS):
            raise ValueError(f"{num_qubits} qubits exceed the batched simulator's einsum alphabet")
        self.num_qubits = num_qubits
        self.ops: list[_Op] = []
        angles = []
        for g in gates:
            if g.name in _ROTATIONS:
                self.ops.append(_Op(g.name, g.qubits, len(angles)))
                angles.append(g.angles[0])
            elif g.name == "u3":
                for name, k in _U3_PARTS:
                    self.ops.append(_Op(name, g.qubits, len(angles)))
                    angles.append(g.angles[k])
            elif g.name in ("cx", "cz", "swap"):
                self.ops.append(_Op(g.name, g.qubits))
            else:
                m = np.array(gate_unitary(g.name), dtype=np.complex128)  # a writable copy
                kind = "1q" if len(g.qubits) == 1 else "dense"
                eq = _einsum_equation(g.qubits, num_qubits) if kind == "dense" else ""
                self.ops.append(_Op(kind, g.qubits, -1, m, m.conj().T.copy(), eq))
        self.table = AngleTable(angles, symbol_order)
        self.num_angles = len(angles)
        # RY, CX, H, ... keep real amplitudes real: half the memory traffic of complex states
        self.real = all(
            op.kind in ("ry", "cx", "cz", "swap") or (op.matrix is not None and not np.iscomplex(op.matrix).any())
            for op in self.ops
        )
        self._dense_cache: dict[tuple[int, bool, torch.dtype], torch.Tensor] = {}

    def angles(self, symbols: np.ndarray) -> torch.Tensor:
        """(K, n_symbols) -> (K, n_angles) float64."""
        return torch.from_numpy(np.ascontiguousarray(self.table.bind(symbols), dtype=np.float64))

    # -- gate application (states are owned by the caller: updated in place where possible) --
    def _dense(self, index: int, op: _Op, dagger: bool, dtype: torch.dtype) -> torch.Tensor:
        key = (index, dagger, dtype)
        if key not in self._dense_cache:
            m = op.adjoint if dagger else op.matrix
            m = m if dtype.is_complex else m.real.copy()
            k = len(op.qubits)
            self._dense_cache[key] = torch.from_numpy(m).to(dtype).reshape((2,) * (2 * k))
        return self._dense_cache[key]

    def _apply(self, psi: torch.Tensor, index: int, op: _Op, theta: torch.Tensor | None, dagger: bool) -> torch.Tensor:
        k, n = psi.shape[0], self.num_qubits
        if op.kind in _ROTATIONS:
            q = op.qubits[0]
            v = psi.view(k, 1 << q, 2, 1 << (n - q - 1))
            half = (-theta if dagger else theta)[:, None, None] / 2
            a, b = v[:, :, 0], v[:, :, 1]
            if op.kind == "rz":
                phase = torch.polar(torch.ones_like(half), -half).to(psi.dtype)
                a.mul_(phase)
                b.mul_(phase.conj())
                return psi
            c, s = torch.cos(half).to(psi.dtype), torch.sin(half).to(psi.dtype)
            if op.kind == "rx":
                s = s * -1j
                return torch.stack((c * a + s * b, s * a + c * b), 2).view(k, -1)
            # in place: fewer passes over the state, which bounds the speed of every gate
            sa = a * s
            a.mul_(c).addcmul_(b, s, value=-1)
            b.mul_(c).add_(sa)
            return psi
        v = psi.view((k,) + (2,) * n)
        if op.kind == "cx":  # flip the target where the control is 1
            c, t = op.qubits
            x = v.select(1 + c, 1)
            axis = t + 1 if t < c else t
            x.copy_(x.flip(axis))
            return psi
        if op.kind == "cz":
            a, b = sorted(op.qubits)
            v.select(1 + b, 1).select(1 + a, 1).neg_()
            return psi
        if op.kind == "swap":
            a, b = op.qubits
            return v.transpose(1 + a, 1 + b).reshape(k, -1)
        m = op.adjoint if dagger else op.matrix
        if not psi.is_complex():
            m = m.real
        if op.kind == "1q":
            q = op.qubits[0]
            v = psi.view(k, 1 << q, 2, 1 << (n - q - 1))
            a, b = v[:, :, 0], v[:, :, 1]
            if m[0, 1] == 0 and m[1, 0] == 0:
                a.mul_(m[0, 0].item())
                b.mul_(m[1, 1].item())
                return psi
            m00, m01, m10, m11 = (z.item() for z in m.flat)
            return torch.stack((m00 * a + m01 * b, m10 * a + m11 * b), 2).view(k, -1)
        out = torch.einsum(op.equation, self._dense(index, op, dagger, psi.dtype), v)
        return out.reshape(k, -1)

    def run(self, psi: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
        """Apply the segment to ``psi`` (K, 2^N), which it may overwrite; angles (K, n_angles)."""
        for i, op in enumerate(self.ops):
            psi = self._apply(psi, i, op, angles[:, op.slot] if op.slot >= 0 else None, False)
        return psi

    def backward(
        self, psi: torch.Tensor, phi: torch.Tensor, angles: torch.Tensor, slots: np.ndarray
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Reverse sweep from the final state ``psi`` and co-state ``phi`` (both (K, 2^N)).

        Returns dL/dangle (K, n_angles) float64 (nonzero only at the rotation ``slots`` asked
        for) and psi, phi un-applied to the segment's start.
        """
        k, n = psi.shape[0], self.num_qubits
        grad = torch.zeros(k, self.num_angles, dtype=torch.float64)
        wanted = np.zeros(self.num_angles, dtype=bool)
        wanted[slots] = True
        both = torch.cat([psi, phi])  # one gate application un-applies both
        angles2 = torch.cat([angles, angles])
        for i in range(len(self.ops) - 1, -1, -1):
            op = self.ops[i]
            if op.slot >= 0 and wanted[op.slot]:
                grad[:, op.slot] = _generator_overlap(both[:k], both[k:], op.kind, op.qubits[0], n)
            both = self._apply(both, i, op, angles2[:, op.slot] if op.slot >= 0 else None, True)
        return grad, both[:k], both[k:]


def _generator_overlap(psi: torch.Tensor, phi: torch.Tensor, axis: str, q: int, n: int) -> torch.Tensor:
    """Im <phi | P_q | psi> per batch row, P = X, Y or Z on qubit q: dL/dtheta of exp(-i theta P / 2)."""
    k = psi.shape[0]
    a, b = psi.view(k, 1 << q, 2, -1).unbind(2)
    fa, fb = phi.view(k, 1 << q, 2, -1).conj().unbind(2)
    if axis == "rz":
        z = (fa * a).sum((1, 2)) - (fb * b).sum((1, 2))
        return z.imag.double()
    if axis == "rx":
        return ((fa * b).sum((1, 2)) + (fb * a).sum((1, 2))).imag.double()
    # Y = [[0, -i], [i, 0]]: Im(-i <fa|b> + i <fb|a>) = Re(<fb|a> - <fa|b>)
    return ((fb * a).sum((1, 2)) - (fa * b).sum((1, 2))).real.double()


def _probabilities(psi: torch.Tensor) -> torch.Tensor:
    """|psi|^2 in float64 (the readout sums up to 2^N of them)."""
    if psi.is_complex():
        return psi.real.double() ** 2 + psi.imag.double() ** 2
    return psi.double() ** 2


@dataclass
class AdjointState:
    """What ``AdjointEngine.forward`` keeps for ``vjp``: O(images x heads x 2^N)."""

    prefix: torch.Tensor  # (B, 2^N) encoded states
    final: torch.Tensor  # (B * H, 2^N) states after the suffix
    symbols: np.ndarray  # (B, H, n_symbols)
    valid: torch.Tensor  # (B * H, T)
    fused: FusedState | None = None  # the fused suffix's forward (then ``final`` is its last state)


class AdjointEngine:
    """Noiseless S and its exact vector-Jacobian products for a compacted, lowered circuit whose
    ``encode`` segments hold the data-dependent prefix.

    ``fused``: simulate the suffix as fused blocks (``hqvit.runtime.fused_suffix``: the same gates,
    a few batched matmuls); False keeps the gate-by-gate sweep, the reference it is tested against.
    """

    def __init__(self, circuit: Circuit, readout: Readout, dtype: torch.dtype = torch.complex64, fused: bool = True):
        if dtype not in (torch.complex64, torch.complex128):
            raise ValueError(f"dtype must be torch.complex64 or torch.complex128, got {dtype}")
        from hqvit.ir.circuit import DATA, TRAINABLE

        self.readout = readout
        self.num_qubits = circuit.num_qubits
        self.data_symbols = circuit.symbols_of_kind(DATA)
        self.trainable_symbols = circuit.symbols_of_kind(TRAINABLE)
        order = self.data_symbols + self.trainable_symbols
        self.n_data = len(self.data_symbols)
        # the same split as the qsim executor: ``encode`` segments first, the rest after
        prefix = [op for s in circuit.segments if s.name == "encode" for op in s.ops if isinstance(op, Gate)]
        suffix = [op for s in circuit.segments if s.name != "encode" for op in s.ops if isinstance(op, Gate)]
        self.prefix = BatchedSegment(prefix, self.num_qubits, order)
        self.suffix = BatchedSegment(suffix, self.num_qubits, order)
        if np.any(self.prefix.table.coeff[:, self.n_data :]):
            raise ValueError("the encode segment depends on trainable symbols; it cannot be shared by heads")
        real = {torch.complex64: torch.float32, torch.complex128: torch.float64}
        # the state's dtype: real when every gate is (then S and gradients are the same, cheaper)
        self.dtype = real[dtype] if self.prefix.real and self.suffix.real else dtype
        self._suffix_slots = np.flatnonzero(np.any(self.suffix.table.coeff != 0, axis=1))
        self._prefix_slots = np.flatnonzero(np.any(self.prefix.table.coeff[:, : self.n_data] != 0, axis=1))
        self.fused = FusedSuffix(self.suffix, readout, self._suffix_slots, self.n_data, self.dtype) if fused else None

    def state_bytes(self, heads: int, keep: bool) -> int:
        """Bytes of (2^N) state arrays one image holds at the peak of a chunk: of a forward + backward
        with kept states (``keep``) or of a forward alone. An estimate for the chunk planner
        (``hqvit.runtime.state_budget``), counted from the arrays the passes allocate and checked
        against measured peaks by ``benchmarks/qsim_memory.py``; ``heads`` rows share one prefix."""
        row = (1 << self.num_qubits) * torch.empty(0, dtype=self.dtype).element_size()
        if self.fused is not None:
            # the trainable blocks' inputs, but for the first one's when the heads share it
            kept = sum(1 for b in self.fused.blocks if b.fixed is None)
            kept -= int(heads > 1 and not self.fused.per_image and kept > 0)
            # a block's pass holds its input, a permuted copy and its output; the backward (which
            # releases what it has used) the kept inputs plus the co-state, its un-applied and
            # permuted copies
            units = kept + 3 if keep else 3
            # per image, not per head: the prefix (complex, 2, when simulated on qsim), and in the
            # backward its co-state and autograd's temporaries for the encoding
            shared = 4 if keep else 2
        else:  # gate-by-gate: state and co-state concatenated, float64 probabilities and dL/dp
            units, shared = (10, 5) if keep else (5, 2)
        return row * (heads * units + shared)

    def array_bytes(self, heads: int) -> int:
        """Bytes of one image's rows (one per head) in a (K, 2^N) state array of a pass: what the
        sub-batch size is chosen from (``hqvit.runtime.state_budget.sub_batch_images``)."""
        return heads * (1 << self.num_qubits) * torch.empty(0, dtype=self.dtype).element_size()

    def _zero(self, k: int) -> torch.Tensor:
        psi = torch.zeros(k, 1 << self.num_qubits, dtype=self.dtype)
        psi[:, 0] = 1.0
        return psi

    def encoded_states(self, data: np.ndarray) -> torch.Tensor:
        """data (B, n_data) -> (B, 2^N) states after the encoding segment."""
        sym = np.concatenate([data, np.zeros((data.shape[0], len(self.trainable_symbols)))], axis=1)
        return self.prefix.run(self._zero(data.shape[0]), self.prefix.angles(sym))

    def forward(
        self,
        data: np.ndarray,
        params: np.ndarray,
        valid: np.ndarray,
        prefix: torch.Tensor | None = None,
        keep: bool = True,
    ) -> tuple[np.ndarray, np.ndarray, AdjointState]:
        """data (B, n_data), params (H, n_trainable), valid (B, T) -> S (B, H, T, T) float64,
        mask (B, T), and the state ``vjp`` needs. ``prefix``: encoded states computed elsewhere.
        ``keep``: False when no ``vjp`` follows, so the fused suffix keeps no block inputs (the
        returned state then serves no backward)."""
        b, h = data.shape[0], params.shape[0]
        if prefix is None:
            prefix = self.encoded_states(data)
        prefix = (prefix if self.dtype.is_complex else prefix.real).to(self.dtype)
        symbols = np.concatenate(
            [
                np.broadcast_to(data[:, None, :], (b, h, data.shape[1])),
                np.broadcast_to(params[None], (b, h) + params.shape[1:]),
            ],
            axis=-1,
        )
        valid_t = torch.from_numpy(np.repeat(valid, h, axis=0))
        if self.fused is not None:
            if self.fused.per_image:  # some suffix angle reads the data: matrices per image and head
                angles = self.suffix.table.bind(symbols.reshape(b * h, -1))
            else:  # one set of matrices per head, shared by the images
                angles = self.suffix.table.bind(np.concatenate([np.zeros((h, self.n_data)), params], axis=1))
            with torch.no_grad():
                s, mask, fused = self.fused.forward(prefix, angles, h, valid_t, keep=keep)
            state = AdjointState(prefix, fused.final, symbols, valid_t, fused)
        else:
            final = self.suffix.run(prefix.repeat_interleave(h, dim=0), self.suffix.angles(symbols.reshape(b * h, -1)))
            with torch.no_grad():
                s, mask = self._scores(final, valid_t)
            state = AdjointState(prefix, final, symbols, valid_t)
        t = s.shape[-1]
        return s.reshape(b, h, t, t).numpy(), mask.reshape(b, h, t).all(dim=1).numpy(), state

    def _scores(self, final: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._scores_from_probs(_probabilities(final), valid)

    def _scores_from_probs(self, probs: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return attention_torch(joint_torch(self.readout, probs), valid)

    def _suffix_vjp(
        self, state: AdjointState, grad_s: np.ndarray, need_prefix: bool = True, release: bool = False
    ) -> tuple[np.ndarray, np.ndarray, torch.Tensor | None]:
        """dL/dparams (H, n_trainable) and dL/ddata (B, n_data) from the suffix, and the co-state at
        the prefix (B * H, 2^N) when ``need_prefix``. ``release``: ``state`` is used once, and its
        suffix states are dropped as the sweep passes them."""
        b, h = state.symbols.shape[:2]
        coeff = torch.from_numpy(self.suffix.table.coeff)
        if state.fused is not None:
            grad_t = torch.from_numpy(np.ascontiguousarray(grad_s)).reshape(b * h, *grad_s.shape[2:])
            if release:
                state.final = None  # the fused state holds the same tensor until it is used
            grad, phi0 = self.fused.backward(state.fused, grad_t, need_prefix, release)
            g_sym = (grad @ coeff).numpy()  # (G, n_symbols), G = heads or images x heads
            if g_sym.shape[0] == h and not self.fused.per_image:  # already summed over the images
                return g_sym[:, self.n_data :], np.zeros((b, self.n_data)), phi0
            g_sym = g_sym.reshape(b, h, -1)
            return g_sym[:, :, self.n_data :].sum(axis=0), g_sym[:, :, : self.n_data].sum(axis=1), phi0
        final = state.final
        probs = _probabilities(final).requires_grad_()
        with torch.enable_grad():
            s, _ = self._scores_from_probs(probs, state.valid)
            (dl_dp,) = torch.autograd.grad(s, probs, torch.from_numpy(np.ascontiguousarray(grad_s)).reshape(s.shape))
        phi = dl_dp.to(self.dtype) * final
        angles = self.suffix.angles(state.symbols.reshape(b * h, -1))
        grad, _, phi0 = self.suffix.backward(final.clone(), phi, angles, self._suffix_slots)
        g_sym = (grad @ coeff).reshape(b, h, -1).numpy()
        return g_sym[:, :, self.n_data :].sum(axis=0), g_sym[:, :, : self.n_data].sum(axis=1), phi0

    def vjp_prefix(
        self, state: AdjointState, grad_s: np.ndarray, need_prefix: bool = True, release: bool = False
    ) -> tuple[np.ndarray, torch.Tensor | None]:
        """grad_s (B, H, T, T) -> dL/dparams (H, n_trainable) and dL/dprefix (B, 2^N), real in the
        state's precision (float32 for complex64: a float64 copy would only be rounded back), for a
        real prefix state psi0 (the closed form), None unless ``need_prefix``. With p = |U psi0|^2
        and phi = (dL/dp) U psi0, dL/dpsi0 = 2 Re(U^dagger phi), and U^dagger phi is the co-state
        the suffix sweep ends with; heads add up because they all start from psi0. The suffix must
        not depend on data symbols (their contribution is not returned). ``release``: as in
        ``_suffix_vjp``."""
        b, h = state.symbols.shape[:2]
        g_params, _, phi0 = self._suffix_vjp(state, grad_s, need_prefix, release)
        if not need_prefix:
            return g_params, None
        g_prefix = 2.0 * phi0.reshape(b, h, -1).sum(dim=1)
        return g_params, g_prefix.real if g_prefix.is_complex() else g_prefix

    def vjp(
        self, state: AdjointState, grad_s: np.ndarray, need_data: bool, release: bool = False
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """grad_s (B, H, T, T) -> dL/dparams (H, n_trainable), dL/ddata (B, n_data) or None.
        ``release``: as in ``_suffix_vjp``."""
        b, h = state.symbols.shape[:2]
        sweep_prefix = need_data and len(self._prefix_slots) > 0
        g_params, g_data, phi0 = self._suffix_vjp(state, grad_s, sweep_prefix, release)
        if not need_data:
            return g_params, None
        if sweep_prefix:
            # every head started from the same encoded state: their co-states add up there
            phi_prefix = phi0.reshape(b, h, -1).sum(dim=1)
            sym = state.symbols[:, 0]
            grad_p, _, _ = self.prefix.backward(
                state.prefix.clone(), phi_prefix, self.prefix.angles(sym), self._prefix_slots
            )
            g_data = g_data + (grad_p @ torch.from_numpy(self.prefix.table.coeff)).numpy()[:, : self.n_data]
        return g_params, g_data
