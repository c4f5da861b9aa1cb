"""The compiled suffix as a few fused dense blocks, applied batched, with adjoint gradients.

The training path's cost is passes over the (K, 2^N) state, K = images x heads. Gate by gate
(``hqvit.runtime.adjoint.BatchedSegment``) that is one pass per gate forward and two backward, and
a Python call per gate. Here the suffix's gates are prepared once:

- SWAPs are relabelings of which state axis carries which qubit (exact: SWAP is a permutation of
  qubits), so they cost nothing;
- the remaining gates are fused greedily into blocks of at most ``max_qubits`` qubits: a gate
  joins the latest block that touches any of its qubits, or any later block, when the union stays
  small. Moving a gate into an earlier block is exact because no block after that one touches the
  gate's qubits, so the gate commutes with everything it is moved past;
- gates outside the reverse light cone of the measured qubits are dropped: a unitary on qubits
  that never meet a measured one again does not change the marginal the readout needs;
- each block's matrix U = F_m ... F_1 (fixed factors precomputed and merged, rotations bound per
  call from the affine angles, once per head rather than per image when the suffix does not read
  the data) and the derivative dU/dtheta_j of each of its rotations are built on 2^k x 2^k
  matrices, and a block is applied as one batched matmul over the state: in place of the axes it
  acts on when they are adjacent, else after one permutation that moves them first (the layout is
  tracked, never permuted back in the forward; first, not last, keeps the copy's innermost runs
  long and the matmul a (2^k x 2^k) @ (2^k x rest) product per image). A permutation also moves
  the axes of the blocks right after it that would need their own, so one copy serves them;
- the heads share the encoded state: it stays one row per image until the first block with
  per-head matrices, whose matmul broadcasts it (no copy of the state per head).

Gradients: with p = |psi|^2 and the co-state phi = (dL/dp) psi after the last block,
dL/dtheta_j = 2 Re <phi_b | dU_b/dtheta_j | psi_{b-1}> = 2 Re sum_xy (dU_b/dtheta_j)_xy C_xy with
C_xy = sum_r conj(phi_b[r, x]) psi_{b-1}[r, y], phi_b = U_{b+1}^dagger ... phi the co-state at the
output of block b and psi_{b-1} its input (kept from the forward). One matmul per block gives C;
every rotation of the block then costs a 2^k x 2^k product. This is the same exact identity as the
gate-by-gate sweep (``hqvit.runtime.adjoint``), applied to the fused factors.

Readout: S needs only P(a, i, j); the probabilities are summed over the swap-test bits (with the
parity or ancilla weight) and every unmeasured qubit in one reduction, and dL/dp is that weight
broadcast back, so the co-state is one elementwise product.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from hqvit.runtime.readout import Readout, attention_torch

MAX_BLOCK_QUBITS = 4  # 16 x 16 blocks: a matmul per block stays bound by memory, not arithmetic
_FIXED = {
    "cx": np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]], dtype=np.complex128),
    "cz": np.diag([1, 1, 1, -1]).astype(np.complex128),
}
_ROTATIONS = ("rx", "ry", "rz")


def _rotation(kind: str, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """exp(-i theta P / 2) and its derivative in theta, (G, 2, 2) each, complex128."""
    c, s = np.cos(theta / 2), np.sin(theta / 2)
    r = np.zeros(theta.shape + (2, 2), dtype=np.complex128)
    d = np.zeros_like(r)
    if kind == "ry":
        r[:, 0, 0], r[:, 0, 1], r[:, 1, 0], r[:, 1, 1] = c, -s, s, c
        d[:, 0, 0], d[:, 0, 1], d[:, 1, 0], d[:, 1, 1] = -s / 2, -c / 2, c / 2, -s / 2
    elif kind == "rx":
        r[:, 0, 0], r[:, 0, 1], r[:, 1, 0], r[:, 1, 1] = c, -1j * s, -1j * s, c
        d[:, 0, 0], d[:, 0, 1], d[:, 1, 0], d[:, 1, 1] = -s / 2, -0.5j * c, -0.5j * c, -s / 2
    else:
        e = np.exp(-0.5j * theta)
        r[:, 0, 0], r[:, 1, 1] = e, e.conj()
        d[:, 0, 0], d[:, 1, 1] = -0.5j * e, 0.5j * e.conj()
    return r, d


def _embed(m: np.ndarray, positions: tuple[int, ...], k: int) -> np.ndarray:
    """A gate (..., 2^g, 2^g) on ``positions`` of a k-qubit block (position 0 the most significant)
    -> (..., 2^k, 2^k): m (x) identity with the gate's qubits first, then the axes put in order."""
    lead = m.shape[:-2]
    order = list(positions) + [q for q in range(k) if q not in positions]
    full = np.kron(m, np.eye(1 << (k - len(positions)), dtype=m.dtype)).reshape(lead + (2,) * (2 * k))
    axes = [order.index(q) for q in range(k)]
    nl = len(lead)
    full = full.transpose(*range(nl), *[nl + a for a in axes], *[nl + k + a for a in axes])
    return np.ascontiguousarray(full).reshape(lead + (1 << k, 1 << k))


def _left(r: np.ndarray, x: np.ndarray, pos: int, k: int) -> np.ndarray:
    """(1 (x) r (x) 1) @ x for r (G, 2, 2) on bit ``pos`` of k, x (G, 2^k, S)."""
    g, size = x.shape[0], x.shape[-1]
    v = x.reshape(g, 1 << pos, 2, (1 << (k - pos - 1)) * size)
    return np.einsum("gij,gajr->gair", r, v).reshape(g, 1 << k, size)


def _right(x: np.ndarray, r: np.ndarray, pos: int, k: int) -> np.ndarray:
    """x @ (1 (x) r (x) 1) for x (G, S, 2^k)."""
    g, size = x.shape[0], x.shape[1]
    v = x.reshape(g, size << pos, 2, 1 << (k - pos - 1))
    return np.einsum("gajc,gji->gaic", v, r).reshape(g, size, 1 << k)


def _matmul(m: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """m (G, d, d) @ x (K/G, G, A, d, R) per group; one matrix (G = 1, or a fixed block shared
    by every group): a bmm over an expanded operand."""
    if m.shape[0] == 1:
        kg, g, a, d, r = x.shape
        return torch.bmm(m[0].expand(kg * g * a, d, d), x.reshape(kg * g * a, d, r)).view(x.shape)
    return torch.matmul(m[None, :, None], x)


@dataclass
class _Block:
    """Gates fused on ``wires`` (state axis labels; the first the most significant in the matrix)."""

    wires: list[int]
    gates: list[tuple[str, tuple[int, ...], int, np.ndarray | None]] = field(default_factory=list)
    mode: str = "view"  # view: the wires are adjacent axes; permute: moved to the front first
    perm: tuple[int, ...] = ()  # permute mode: new axis order (old axis indices)
    before: int = 0  # qubit axes before / after the block in its matmul view
    after: int = 0
    # (kind, slot, position) rotations and fixed (2^k, 2^k) factors in time order
    factors: list = field(default_factory=list)
    slots: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    fixed: torch.Tensor | None = None  # the matrix when the block has no trainable rotation


@dataclass
class FusedState:
    """What the backward needs: each trainable block's input in its matmul view, the final state,
    the bound matrices and derivatives, the readout's intermediates."""

    inputs: list[torch.Tensor | None]
    final: torch.Tensor
    mats: list[torch.Tensor]
    derivs: list[np.ndarray | None]
    joint: torch.Tensor  # (K, T*T, 2) total and P1, float64
    valid: torch.Tensor
    groups: int


class FusedSuffix:
    """The suffix of ``segment`` (a ``BatchedSegment``: its op list, slots and angle table) fused for
    ``readout``. ``wanted``: the slots whose derivatives are asked for (the others are constants)."""

    def __init__(
        self,
        segment,
        readout: Readout,
        wanted: np.ndarray,
        n_data: int,
        dtype: torch.dtype,
        max_qubits: int = MAX_BLOCK_QUBITS,
    ):
        self.num_qubits = n = segment.num_qubits
        self.table = segment.table
        self.num_angles = segment.num_angles
        self.dtype = dtype
        self.readout = readout
        # one matrix per head unless some angle of the suffix reads the data
        self.per_image = bool(np.any(self.table.coeff[:, :n_data]))
        trainable = np.zeros(self.num_angles, dtype=bool)
        trainable[wanted] = True
        wire = list(range(n))  # qubit -> the state axis label that carries it
        gates = []
        for op in segment.ops:
            if op.kind == "swap":
                a, b = op.qubits
                wire[a], wire[b] = wire[b], wire[a]
                continue
            ws = tuple(wire[q] for q in op.qubits)
            if op.kind in _ROTATIONS and not trainable[op.slot]:  # a constant angle: a fixed gate
                r, _ = _rotation(op.kind, np.array([self.table.const[op.slot]]))
                gates.append(("1q", ws, -1, r[0]))
            elif op.kind in _ROTATIONS:
                gates.append((op.kind, ws, op.slot, None))
            elif op.kind in _FIXED:
                gates.append((op.kind, ws, -1, _FIXED[op.kind]))
            else:
                gates.append((op.kind, ws, -1, np.asarray(op.matrix, dtype=np.complex128)))
        self.wire_of = wire  # qubit -> the axis label carrying it at the end of the suffix
        # reverse light cone of the measured qubits: a gate none of whose qubits meets a measured
        # one later on acts on qubits the readout sums over, and cannot change the marginal
        live = {wire[q] for q in readout.kept}
        kept_gates = []
        for gate in reversed(gates):
            if live & set(gate[1]):
                live |= set(gate[1])
                kept_gates.append(gate)
        self.dropped = len(gates) - len(kept_gates)
        blocks: list[_Block] = []
        last: dict[int, int] = {}  # wire -> index of the last block touching it
        for gate in reversed(kept_gates):
            ws = gate[1]
            earliest = max((last[w] for w in ws if w in last), default=0)
            home = None
            for i in range(len(blocks) - 1, earliest - 1, -1):  # the latest block that can take it
                if set(ws) <= set(blocks[i].wires):
                    home = i
                    break
                if home is None and len(set(ws) | set(blocks[i].wires)) <= max_qubits:
                    home = i
            if home is None:
                blocks.append(_Block([]))
                home = len(blocks) - 1
            blk = blocks[home]
            blk.wires += [w for w in ws if w not in blk.wires]
            blk.gates.append(gate)
            for w in ws:
                last[w] = max(last.get(w, -1), home)
        self.blocks = blocks
        layout = list(range(n))  # state axis -> wire
        for i, blk in enumerate(blocks):
            pos = sorted(layout.index(w) for w in blk.wires)
            if pos[-1] - pos[0] == len(pos) - 1:
                blk.mode, blk.before, blk.after = "view", pos[0], n - 1 - pos[-1]
                blk.wires = [layout[p] for p in pos]
            else:
                blk.wires = [layout[p] for p in pos]
                front = self._front(blk.wires, blocks[i + 1 :], layout)
                new = front + [w for w in layout if w not in set(front)]
                blk.mode, blk.perm = "permute", tuple(layout.index(w) for w in new)
                blk.before, blk.after = 0, n - len(pos)
                layout = new
            self._prepare(blk)
        self.layout = layout
        self._prepare_readout(readout, [wire[q] for q in readout.kept])

    @staticmethod
    def _front(wires: list[int], later: list[_Block], layout: list[int]) -> list[int]:
        """The axes a permuting block moves first: its own wires, then, each as one adjacent group,
        those of the blocks right after it on other wires that would need a permutation of their
        own. One copy of the state then serves them all (the Bell measurement's CNOT + H pairs
        fill two 4-qubit blocks on interleaved axes: one permutation instead of two)."""
        front, used = list(wires), set(wires)
        for blk in later:
            if used & set(blk.wires):
                break
            tentative = front + [w for w in layout if w not in used]
            pos = sorted(tentative.index(w) for w in blk.wires)
            if pos[-1] - pos[0] == len(pos) - 1:  # adjacent anyway: a view of the permuted copy
                break
            front += sorted(blk.wires, key=layout.index)
            used |= set(blk.wires)
        return front

    def _prepare(self, blk: _Block) -> None:
        k = len(blk.wires)
        factors: list = []
        for kind, ws, slot, m in blk.gates:
            positions = tuple(blk.wires.index(w) for w in ws)
            if slot >= 0:
                factors.append((kind, slot, positions[0]))
                continue
            full = _embed(m, positions, k)
            if factors and isinstance(factors[-1], np.ndarray):
                factors[-1] = full @ factors[-1]  # consecutive fixed gates: one factor
            else:
                factors.append(full)
        blk.factors = factors
        blk.slots = np.array([f[1] for f in factors if isinstance(f, tuple)], dtype=np.int64)
        if not len(blk.slots):
            u = np.eye(1 << k, dtype=np.complex128)
            for f in factors:
                u = f @ u
            blk.fixed = self._cast(u[None])

    def _cast(self, m: np.ndarray) -> torch.Tensor:
        if not self.dtype.is_complex:
            if np.abs(m.imag).max(initial=0.0) > 1e-12:
                raise ValueError("a complex gate in a suffix simulated with real amplitudes")
            m = m.real
        return torch.from_numpy(np.ascontiguousarray(m)).to(self.dtype)

    def _prepare_readout(self, readout: Readout, kept: list[int]) -> None:
        cfg = readout.cfg
        tb, fb = cfg.tokens.bit_length() - 1, cfg.features.bit_length() - 1
        index = kept[:tb] + kept[tb + fb : 2 * tb + fb]
        summed = kept[tb : tb + fb] + kept[2 * tb + fb :]  # feature1 + feature2 (+ ancilla)
        rest = [w for w in self.layout if w not in set(index) | set(summed)]
        d = cfg.features
        if cfg.swap_test == "bell":
            weight = readout.parity.reshape(-1)  # parity of popcount(f1 & f2)
        else:  # cswap: the ancilla bit, the last summed qubit
            weight = np.tile([0.0, 1.0], d * d)
        # sum the swap-test axes in the order the layout has them: the weight is permuted instead
        # of the state, so a layout that lists the index qubits first needs no copy
        in_layout = sorted(summed, key=self.layout.index)
        weight = weight.reshape((2,) * len(summed)).transpose([summed.index(w) for w in in_layout]).reshape(-1)
        summed = in_layout
        # index axes first or last, whichever the final layout already has (then no copy)
        last = summed + rest + index
        self.index_last = [self.layout.index(w) for w in last] == list(range(len(self.layout)))
        self.readout_order = [1 + self.layout.index(w) for w in (last if self.index_last else index + summed + rest)]
        self.index_bits, self.summed_bits, self.rest_bits = len(index), len(summed), len(rest)
        self.summed_size = 1 << len(summed)
        self.rest_size = 1 << len(rest)
        w = np.stack([np.ones_like(weight), weight], axis=1)  # (F, 2): total, P1
        real = {torch.complex64: torch.float32, torch.complex128: torch.float64}.get(self.dtype, self.dtype)
        self.weights = torch.from_numpy(w).to(real)
        self.tokens = cfg.tokens

    # -- binding -------------------------------------------------------------------------------
    def bind(self, angles: np.ndarray) -> tuple[list[torch.Tensor], list[np.ndarray | None]]:
        """angles (G, n_angles) -> each block's matrix (G, 2^k, 2^k) in the state dtype and the
        derivatives (n_slots, G, 2^k, 2^k) complex128 of its trainable rotations.

        U = F_m ... F_1; dU/dtheta_j = Q_j (dF_j) P_{j-1} with P_j = F_j ... F_1 and
        Q_j = F_m ... F_{j+1}. A rotation multiplies a matrix as a 2 x 2 map on one index bit
        (never embedded as 2^k x 2^k)."""
        g = angles.shape[0]
        mats, derivs = [], []
        for blk in self.blocks:
            if blk.fixed is not None:
                mats.append(blk.fixed)
                derivs.append(None)
                continue
            k = len(blk.wires)
            eye = np.broadcast_to(np.eye(1 << k, dtype=np.complex128), (g, 1 << k, 1 << k))
            rot = {}
            for f in blk.factors:
                if isinstance(f, tuple):
                    rot[f] = _rotation(f[0], angles[:, f[1]])
            prefix = [eye]
            for f in blk.factors:
                if isinstance(f, tuple):
                    prefix.append(_left(rot[f][0], prefix[-1], f[2], k))
                else:
                    prefix.append(f @ prefix[-1])
            q, d_list = eye, []
            for j in range(len(blk.factors) - 1, -1, -1):
                f = blk.factors[j]
                if isinstance(f, tuple):
                    d_list.append(_right(q, rot[f][1], f[2], k) @ prefix[j])
                    q = _right(q, rot[f][0], f[2], k)
                else:
                    q = q @ f
            mats.append(self._cast(prefix[-1]))
            derivs.append(np.stack(d_list[::-1]))
        return mats, derivs

    # -- state passes ----------------------------------------------------------------------------
    def _block_view(self, psi: torch.Tensor, blk: _Block, groups: int) -> torch.Tensor:
        """The state as the block's matmul operand: (K/G, G, A, 2^k, R), or (K/G, G, A, 2^k) when
        the block's axes are the last ones; in permute mode a copy with them first (A = 1)."""
        k = psi.shape[0]
        if blk.mode == "view":
            return self._out_view(psi, blk, groups)
        v = psi.view((k // groups, groups) + (2,) * self.num_qubits)
        v = v.permute(0, 1, *[2 + p for p in blk.perm])
        return v.reshape(k // groups, groups, 1, 1 << len(blk.wires), 1 << blk.after)

    @staticmethod
    def _apply(x: torch.Tensor, m: torch.Tensor, blk: _Block) -> torch.Tensor:
        """U applied to a block view: (K, 2^N) in the layout after the block. A view shared by the
        heads (G = 1) and per-head matrices broadcast to one row per image and head."""
        if x.dim() == 5:  # axes after the block: U @ (2^k, R) slices
            y = _matmul(m, x)
        elif m.shape[0] == 1:  # the block's axes last: one GEMM
            y = (x.reshape(-1, m.shape[-1]) @ m[0].T).view(x.shape)
        else:
            y = torch.matmul(x, m.transpose(-1, -2)[None])
        return y.view(y.shape[0] * y.shape[1], -1)

    def forward(
        self, prefix: torch.Tensor, angles: np.ndarray, heads: int, valid: torch.Tensor, keep: bool
    ) -> tuple[torch.Tensor, torch.Tensor, FusedState]:
        """prefix (B, 2^N) encoded states; angles (G, n_angles) with G = heads (one matrix per head)
        or B * heads (per image); valid (B * heads, T). -> S (B * heads, T, T) float64, mask, state."""
        groups = angles.shape[0]
        psi = prefix.to(self.dtype)
        # the heads start from the same state: it stays one row per image (no copy per head) until
        # the first block with one matrix per head, whose matmul broadcasts it
        shared = heads > 1 and groups == heads
        if heads > 1 and not shared:
            psi = psi.repeat_interleave(heads, dim=0)
        mats, derivs = self.bind(angles)
        inputs: list[torch.Tensor | None] = []
        for blk, m in zip(self.blocks, mats, strict=True):
            x = self._block_view(psi, blk, 1 if shared else groups)
            inputs.append(x if keep and blk.fixed is None else None)
            psi = self._apply(x, m, blk)
            shared = shared and m.shape[0] == 1
        if shared:  # no block had per-head matrices
            psi = psi.repeat_interleave(heads, dim=0)
        joint = self._joint(psi)
        t = self.tokens
        p1 = joint[..., 1]
        s, mask = attention_torch(torch.stack([joint[..., 0] - p1, p1], 1).view(-1, 2, t, t), valid)
        return s, mask, FusedState(inputs, psi, mats, derivs, joint, valid, groups)

    def _readout_view(self, psi: torch.Tensor) -> torch.Tensor:
        """(K, 2^N) in the final layout -> (K, 2, ..., 2) with the token-index axes first, then the
        summed swap-test axes, then the unmeasured ones (a view)."""
        return psi.view((psi.shape[0],) + (2,) * self.num_qubits).permute(0, *self.readout_order)

    def _joint(self, psi: torch.Tensor) -> torch.Tensor:
        """(K, 2^N) -> (K, T*T, 2): P0 + P1 and P1 per index pair, float64."""
        k = psi.shape[0]
        p = psi * psi if not psi.is_complex() else torch.view_as_real(psi).square().sum(-1)
        tt = self.tokens * self.tokens
        if self.index_last:
            p = self._readout_view(p).reshape(k, self.summed_size, self.rest_size, tt)
            p = p.sum(2) if self.rest_size > 1 else p.squeeze(2)
            return (self.weights.T @ p).transpose(1, 2).double()
        p = self._readout_view(p).reshape(k, tt, self.summed_size, self.rest_size)
        p = p.sum(3) if self.rest_size > 1 else p.squeeze(3)
        return (p @ self.weights).double()

    def backward(
        self, state: FusedState, grad_s: torch.Tensor, need_prefix: bool, release: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """grad_s (K, T, T) -> dL/dangle (G, n_angles) float64 and, if ``need_prefix``, the co-state
        U^dagger phi at the suffix's start (K, 2^N) in the prefix's qubit order. ``release``: drop
        ``state``'s final state and block inputs as soon as they are used (a single-use state), so
        the sweep's peak holds only the inputs still ahead of it."""
        t = self.tokens
        joint = state.joint.detach().requires_grad_()
        with torch.enable_grad():
            p1 = joint[..., 1]
            s, _ = attention_torch(torch.stack([joint[..., 0] - p1, p1], 1).view(-1, 2, t, t), state.valid)
            (dl_dj,) = torch.autograd.grad(s, joint, grad_s.reshape(s.shape))
        k = state.final.shape[0]
        # dL/dp on the readout axes: 1 for the total, the parity / ancilla bit for P1, and the same
        # for every value of the unmeasured qubits (a broadcast, not a copy)
        g = dl_dj.to(self.weights.dtype)
        ones = (1,) * self.rest_bits
        if self.index_last:
            dl_dp = (self.weights @ g.transpose(1, 2)).view(
                (k,) + (2,) * self.summed_bits + ones + (2,) * self.index_bits
            )
        else:
            dl_dp = (g @ self.weights.T).view((k,) + (2,) * (self.index_bits + self.summed_bits) + ones)
        phi = torch.empty_like(state.final)
        torch.mul(self._readout_view(state.final), dl_dp, out=self._readout_view(phi))
        if release:
            state.final = None
        groups = state.groups
        grad = torch.zeros(groups, self.num_angles, dtype=torch.float64)
        first = 0 if need_prefix else next((i for i, b in enumerate(self.blocks) if b.fixed is None), len(self.blocks))
        for i in range(len(self.blocks) - 1, first - 1, -1):
            blk, m = self.blocks[i], state.mats[i]
            phi_v = self._out_view(phi, blk, groups)
            x = state.inputs[i]
            if release:
                state.inputs[i] = None
            if x is not None:
                if x.dim() == 5:
                    c = (phi_v.conj() @ x.transpose(-1, -2)).sum(dim=(0, 2))
                else:
                    c = (phi_v.conj().transpose(-1, -2) @ x).sum(dim=0)
                c = c.to(torch.complex128).numpy()
                g = 2.0 * np.einsum("jgxy,gxy->gj", state.derivs[i], c).real
                grad[:, blk.slots] += torch.from_numpy(g)
                del x
            if i > first or need_prefix:
                phi = self._unapply(phi_v, m, blk)
        return grad, (phi if need_prefix else None)

    def _out_view(self, phi: torch.Tensor, blk: _Block, groups: int) -> torch.Tensor:
        k, size = phi.shape[0], 1 << len(blk.wires)
        if blk.after > 0:
            return phi.view(k // groups, groups, 1 << blk.before, size, 1 << blk.after)
        return phi.view(k // groups, groups, -1, size)

    def _unapply(self, phi_v: torch.Tensor, m: torch.Tensor, blk: _Block) -> torch.Tensor:
        """U^dagger on the co-state at the block's output, back in the layout before the block."""
        k = phi_v.shape[0] * phi_v.shape[1]
        if phi_v.dim() == 5:
            y = _matmul(m.conj().transpose(-1, -2), phi_v)
        elif m.shape[0] == 1:  # rows: (U^dagger phi)^T = phi^T conj(U), one GEMM
            y = phi_v.reshape(-1, m.shape[-1]) @ m[0].conj()
        else:
            y = phi_v @ m.conj()[None]
        if blk.mode == "view":
            return y.reshape(k, -1)
        n = self.num_qubits
        y = y.view((phi_v.shape[0], phi_v.shape[1]) + (2,) * n)
        inverse = np.argsort(blk.perm)
        return y.permute(0, 1, *[2 + p for p in inverse]).reshape(k, -1)
