"""The engine's blocks re-cut with the static ZZ phases as diagonal passes, not block elements.

``noisy_program`` gives each static ZZ phase exp(-i phi |11><11|) of a coupler (x, y) to the
blocks as a fixed two-qubit element: wherever x's and y's last blocks differ it opens a block
of its own, and on a device where every coupler gets a phase in every moment most blocks are
such phases (sycamore23, digits circuit: 3859 blocks, 170 without ZZ). A diagonal phase commutes
with every operation on other qubits, so, like the quasi-static detunings, it can instead be
applied to the whole (2^N, R) batch between blocks: anywhere after the last block that holds an
operation on x or y before it and before the first block that holds one after it. Here the
program's blocks are read back as one time-ordered list (block by block, each block's phases
first: an order of the same circuit) and cut again, with the builder's rules
(``noisy_program._Builder``) extended to two-qubit phases:

- a one-qubit element waits on its qubit; a two-qubit element joins its pair's common last
  block (with both qubits' waiting elements) or opens a block;
- at a phase on qubits Q, the elements waiting on each q in Q happened before it: they join q's
  last block when nothing after that block may precede the phase (else a block of their own);
  the phase may then sit before any block from max(last block of q) + 1 up to the first later
  block on any q in Q (its deadline). A block on q after a phase that is still open starts anew,
  so that nothing after the phase lands in a block before it; when a two-qubit phase's deadline
  is a block on x, y's later elements may likewise only join blocks from that deadline on;
- phases are grouped into as few passes as possible (interval stabbing, as the builder does for
  the detunings); each pass multiplies the batch by its phases' product, one pass over the
  state: ``noisy_kernels.apply_phases`` with the fixed (ZZ) factor of each basis state and the
  per-trajectory detuning factors. Phases after which nothing acts on their qubits are dropped:
  a diagonal at the end does not change the computational-basis distribution.

Every element keeps its slot (mixture, damping, angle): the drawn errors are the same; damping
jumps may happen in other trajectories as the blocks' order of commuting channels changes (the
distribution does not). Which two-qubit diagonal elements become phases is a matter of speed
only (``is_zz_phase``: the idle ZZ, small angles; a cz gate stays in its block, where it costs
nothing extra).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from hqvit.runtime import noisy_kernels as nk
from hqvit.runtime.noisy_program import NoisyProgram, stab_phases

_SWAP = np.array([[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1]], dtype=np.complex128)


@dataclass
class FixedPhases:
    """The ZZ phases of each pass: before block b, terms start[b]:start[b+1], each the diagonal
    ``diag`` (|00>, |01>, |10>, |11>) on bit positions ``bits`` (first the more significant)."""

    start: np.ndarray  # (n_blocks + 1,) int64
    bits: np.ndarray  # (n_terms, 2) int64
    diag: np.ndarray  # (n_terms, 4) complex128

    def vectors(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(n_blocks,) index of each block's pass vector (-1: none) and the vectors' real and
        imaginary parts (n_vectors, 2^n) float32, basis states in kernel bit order."""
        nb = len(self.start) - 1
        index = np.full(nb, -1, dtype=np.int64)
        states = np.arange(1 << n)
        out = []
        for b in range(nb):
            lo, hi = self.start[b], self.start[b + 1]
            if lo == hi:
                continue
            v = np.ones(1 << n, dtype=np.complex128)
            for t in range(lo, hi):
                x, y = self.bits[t]
                local = 2 * ((states >> (n - 1 - x)) & 1) + ((states >> (n - 1 - y)) & 1)
                v *= self.diag[t][local]
            index[b] = len(out)
            out.append(v)
        if not out:
            z = np.zeros((1, 1), dtype=np.float32)
            return index, z, z
        stack = np.array(out)
        return index, stack.real.astype(np.float32), stack.imag.astype(np.float32)


def is_zz_phase(m: np.ndarray) -> bool:
    """A two-qubit element that is an idle ZZ phase diag(1, 1, 1, exp(-i phi)) with |phi| < 1."""
    d = np.diag(m)
    return (
        np.count_nonzero(m - np.diag(d)) == 0
        and np.allclose(d[:3], 1.0, rtol=0.0, atol=1e-12)
        and abs(abs(d[3]) - 1.0) < 1e-12
        and abs(np.angle(d[3])) < 1.0
    )


def _one_qubit(m4: np.ndarray, pos: int) -> np.ndarray:
    """The 2 x 2 operator that ``noisy_program.embed`` put on local position ``pos``."""
    return m4[0::2, 0::2] if pos == 0 else m4[:2, :2]


def _embed(m2: np.ndarray, pos: int) -> np.ndarray:
    eye = np.eye(2, dtype=np.complex128)
    return np.kron(m2, eye) if pos == 0 else np.kron(eye, m2)


class _Cutter:
    def __init__(self, n: int):
        self.n = n
        self.blocks: list[tuple[tuple[int, int], list]] = []
        self.pending: list[list] = [[] for _ in range(n)]
        self.last = [-1] * n
        self.floor = [0] * n  # a later element on q may only join blocks from this one on
        self.open: list[list[int]] = [[] for _ in range(n)]
        self.phases: list[list] = []  # [qubits, payload, first, deadline]

    def _joinable(self, q: int) -> bool:
        return self.last[q] >= 0 and not self.open[q] and self.last[q] >= self.floor[q]

    def _resolve(self, q: int, b: int) -> None:
        for i in self.open[q]:
            ph = self.phases[i]
            if ph[3] >= 0:
                continue
            ph[3] = b
            for other in ph[0]:
                if other != q:
                    self.open[other] = [j for j in self.open[other] if j != i]
                    self.floor[other] = max(self.floor[other], b)
        self.open[q] = []

    def _flush(self, q: int) -> None:
        if not self.pending[q]:
            return
        if self._joinable(q):
            self.blocks[self.last[q]][1].extend(self.pending[q])
        else:  # a block of its own, with any partner (identity on it)
            partner = (q + 1) % self.n if self.n > 1 else q
            self.blocks.append(((q, partner), list(self.pending[q])))
            self.last[q] = len(self.blocks) - 1
            self._resolve(q, self.last[q])
        self.pending[q] = []

    def element(self, item) -> None:
        qubits = item[1]
        if len(qubits) == 1:
            self.pending[qubits[0]].append(item)
            return
        x, y = qubits
        b = self.last[x]
        if not (self._joinable(x) and self._joinable(y) and b == self.last[y]):
            self.blocks.append(((x, y), []))
            b = len(self.blocks) - 1
        self.blocks[b][1].extend(self.pending[x] + self.pending[y] + [item])
        self.pending[x], self.pending[y] = [], []
        self.last[x] = self.last[y] = b
        self._resolve(x, b)
        self._resolve(y, b)

    def phase(self, qubits: tuple[int, ...], payload) -> None:
        for q in qubits:
            self._flush(q)
        first = max(self.last[q] + 1 for q in qubits)
        self.phases.append([qubits, payload, first, -1])
        for q in qubits:
            self.open[q].append(len(self.phases) - 1)

    def finish(self) -> None:
        for q in range(self.n):
            self._flush(q)

    def passes(self) -> dict[int, list]:
        """Block -> the phases applied right before it (``noisy_program.stab_phases``)."""
        return stab_phases(self.phases)


def fuse_phases(p: NoisyProgram) -> tuple[NoisyProgram, FixedPhases]:
    """``p`` with its ZZ elements moved to diagonal passes (module docstring); the same program
    (and no fixed phases) when it has none."""
    kinds, pos, slots = p.elem_kind, p.elem_pos, p.elem_slot
    zz = np.array(
        [kinds[e] == nk.FIXED and pos[e] == 2 and is_zz_phase(p.fixed[slots[e]]) for e in range(len(kinds))],
        dtype=bool,
    )
    if not zz.any():
        return p, FixedPhases(np.zeros(p.num_blocks + 1, dtype=np.int64), np.zeros((0, 2), np.int64), np.zeros((0, 4)))
    cut = _Cutter(p.num_qubits)
    for b in range(p.num_blocks):
        for k in range(p.ph_start[b], p.ph_start[b + 1]):
            cut.phase((int(p.ph_bit[k]),), ("detuning", int(p.ph_qubit[k]), float(p.ph_time[k])))
        a, c = (int(x) for x in p.block_qubits[b])
        for e in range(p.block_start[b], p.block_start[b + 1]):
            qubits = (a,) if pos[e] == 0 else (c,) if pos[e] == 1 else (a, c)
            if zz[e]:
                cut.phase(qubits, ("zz", np.diag(p.fixed[slots[e]]).copy()))
            else:
                cut.element((e, qubits))
    cut.finish()
    return _program(p, cut), _fixed(p, cut)


def _program(p: NoisyProgram, cut: _Cutter) -> NoisyProgram:
    kinds, starts, pos_out, slots_out, lower = [], [0], [], [], []
    fixed: list[np.ndarray] = []
    mix_ops = p.mix_ops.copy()
    mix_elem = p.mix_elem.copy()
    for (a, c), items in cut.blocks:
        low = 1.0
        for e, qubits in items:
            k, old_pos = int(p.elem_kind[e]), int(p.elem_pos[e])
            if len(qubits) == 1:
                new_pos = 0 if qubits[0] == a else 1
                move = lambda m4, o=old_pos, q=new_pos: _embed(_one_qubit(m4, o), q)  # noqa: E731
            else:
                new_pos = 2
                move = (lambda m4: m4) if qubits == (a, c) else (lambda m4: _SWAP @ m4 @ _SWAP)  # noqa: E731
            slot = int(p.elem_slot[e])
            if k == nk.FIXED:
                fixed.append(move(p.fixed[slot]))
                slot = len(fixed) - 1
            elif k == nk.MIX:
                mix_elem[slot] = len(kinds)
                for j in range(p.mix_start[slot], p.mix_start[slot + 1]):
                    mix_ops[j] = move(p.mix_ops[j])
            elif k == nk.AD:
                low *= 1.0 - float(p.ad_gamma[slot])
            kinds.append(k)
            pos_out.append(new_pos)
            slots_out.append(slot)
        starts.append(len(kinds))
        lower.append(low)
    at = cut.passes()
    ph_start, ph_qubit, ph_bit, ph_time = [0], [], [], []
    for b in range(len(cut.blocks)):
        merged: dict[tuple[int, int], float] = {}  # (qubit, bit) -> summed idle time
        for qubits, payload, _, _ in at.get(b, []):
            if payload[0] == "detuning":
                key = (payload[1], qubits[0])
                merged[key] = merged.get(key, 0.0) + payload[2]
        for (q, bit), t in sorted(merged.items()):
            ph_qubit.append(q)
            ph_bit.append(bit)
            ph_time.append(t)
        ph_start.append(len(ph_qubit))
    as_i = lambda x: np.asarray(x, dtype=np.int64)  # noqa: E731
    return replace(
        p,
        block_qubits=as_i([q for q, _ in cut.blocks]).reshape(-1, 2),
        block_start=as_i(starts),
        elem_kind=as_i(kinds),
        elem_pos=as_i(pos_out),
        elem_slot=as_i(slots_out),
        fixed=np.array(fixed or [np.eye(4)], dtype=np.complex128),
        mix_ops=mix_ops,
        mix_elem=mix_elem,
        ad_lower=np.array(lower, dtype=np.float64),
        ph_start=as_i(ph_start),
        ph_qubit=as_i(ph_qubit),
        ph_bit=as_i(ph_bit),
        ph_time=np.array(ph_time, dtype=np.float64),
    )


def _fixed(p: NoisyProgram, cut: _Cutter) -> FixedPhases:
    at = cut.passes()
    start, bits, diag = [0], [], []
    for b in range(len(cut.blocks)):
        merged: dict[tuple[int, int], np.ndarray] = {}
        for qubits, payload, _, _ in at.get(b, []):
            if payload[0] == "zz":
                merged[qubits] = merged.get(qubits, np.ones(4, dtype=np.complex128)) * payload[1]
        for qubits in sorted(merged):
            bits.append(qubits)
            diag.append(merged[qubits])
        start.append(len(bits))
    return FixedPhases(
        np.asarray(start, dtype=np.int64),
        np.asarray(bits, dtype=np.int64).reshape(-1, 2),
        np.asarray(diag, dtype=np.complex128).reshape(-1, 4),
    )
