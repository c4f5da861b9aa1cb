"""Trajectories of a noisy compiled circuit, many per call, with per-trajectory adjoint gradients.

``BatchedTrajectories.run`` simulates R trajectories of one binding (image) for every head as an
(R, 2^N) batch (``noisy_kernels``). The blocks before the first trainable rotation do not depend
on the head, so they run once per image and their states (with the draws so far) are copied to
every head: heads share those draws, which keeps each head's estimate unbiased.

At set-up the program is re-cut with its static ZZ phases as diagonal passes between blocks,
merged with the detunings' passes (``phase_fusion``), and renumbered so that each block runs on
the rows of the qubits touched so far (``engine_layout``): the same circuit, fewer and smaller
passes. ``program`` is that engine-side program (the builder's stays with the caller).

Gradient estimator (``gradient``). A trajectory is a path k of Kraus operators; with
psi~_k = K_k ... psi0 unnormalized, the sampling probability is P(k; theta) = ||psi~_k||^2 (the
mixtures' probabilities, which do not depend on theta, times the damping choices, which do) and
p(x) = sum_k |psi~_k(x)|^2. So with k drawn from P, p^_k(x) = |psi~_k(x)|^2 / ||psi~_k||^2 is
an unbiased estimate of p(x) and

    d p^(x) / d theta := (d |psi~_k(x)|^2 / d theta) / ||psi~_k||^2    (the norm held fixed)

is an unbiased estimate of dp(x)/dtheta: its expectation is sum_k d|psi~_k(x)|^2 / d theta. It is
the derivative of |c psi~_k|^2 through the fixed linear (non-unitary) circuit of the drawn Kraus
operators, c a constant, so an adjoint sweep through that fixed circuit computes it; the
renormalizations after jumps are such constants and sit in the recorded block matrices. The
score-function term that a naive "fixed choices" gradient of a normalized trajectory would miss
is exactly the theta-dependence of ||psi~_k||^2 kept here. For the mixtures alone (no damping)
this is the plain gradient of each pure trajectory. The loss is a function of the averaged
distribution, so the chain rule dL/dp_bar (computed once per image and head from the averaged
p) times the mean of these per-trajectory Jacobians is unbiased for the Jacobian part; the
readout's nonlinearity (S is a ratio) biases it at O(1/R) like the forward S itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hqvit.runtime import noisy_kernels as nk
from hqvit.runtime.engine_layout import by_first_touch
from hqvit.runtime.noisy_program import NoisyProgram, sample_mixtures
from hqvit.runtime.phase_fusion import fuse_phases

JUMP_DRAWS = 64  # waiting-time uniforms drawn per trajectory; more are drawn if a row uses them all


@dataclass
class Tape:
    """What ``gradient`` needs from ``run`` for one head: O(R (trainable blocks) 2^N)."""

    final_re: np.ndarray  # (2^N, R) float32, unnormalized
    final_im: np.ndarray
    norm2: np.ndarray  # (R,) squared norm of the final trajectories
    eff: np.ndarray  # (R, region blocks, 4, 4) realized block matrices of the special ones
    special: np.ndarray  # (R, region blocks) bool: the trajectory has its own block matrix
    gmat: np.ndarray  # (R, n_train_elements, 4, 4) G of the special ones
    gclean: np.ndarray  # (n_train_elements, 4, 4) error-free G
    store_re: np.ndarray  # (stored blocks, 2^N, R)
    store_im: np.ndarray
    ph_half: np.ndarray | None = None  # (R, n_ph) the detunings' half angles of these trajectories


class BatchedTrajectories:
    def __init__(self, program: NoisyProgram):
        # the same circuit with the ZZ phases as diagonal passes (phase_fusion), on bit positions
        # that let each block run on the rows of the qubits touched so far (engine_layout)
        fused, fixed = fuse_phases(program)
        self.program, self.block_size, new_bit = by_first_touch(fused)
        fixed.bits = new_bit[fixed.bits]
        self.ph_fixed, self.fixed_re, self.fixed_im = fixed.vectors(program.num_qubits)
        p = self.program
        self.split = p.first_trainable_block()
        rot = (p.elem_kind >= nk.RX) & (p.elem_kind <= nk.RZ)
        trainable = np.zeros(len(p.elem_kind), dtype=bool)
        trainable[rot] = p.slot_trainable[p.elem_slot[rot]]
        self.train_index = np.full(len(p.elem_kind), -1, dtype=np.int64)
        self.train_index[trainable] = np.arange(int(trainable.sum()))
        self.train_slots = p.elem_slot[trainable]  # angle slot of each trainable element
        has = np.array(
            [trainable[p.block_start[b] : p.block_start[b + 1]].any() for b in range(p.num_blocks)], dtype=bool
        )
        self.store_index = np.full(p.num_blocks, -1, dtype=np.int64)
        self.store_index[has] = np.arange(int(has.sum()))
        self._no_store = np.full(p.num_blocks, -1, dtype=np.int64)
        # trajectory-blocks with drawn errors, with a damping check, with a jump (cumulative)
        self.stats = np.zeros(3, dtype=np.int64)

    def clean_matrices(self, symbols: np.ndarray) -> np.ndarray:
        """(n_blocks, 4, 4) error-free block matrices of one binding (``gradient`` needs them)."""
        return self._matrices(symbols)[1]

    def _matrices(self, symbols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = self.program
        elems = nk.element_matrices(p.elem_kind, p.elem_pos, p.elem_slot, p.bind(symbols), p.fixed, p.ad_gamma)
        return elems, nk.block_products(p.block_start, elems)

    def _forward(self, state, b0, b1, elems, clean, choices, uniforms, half, tape: Tape | None) -> None:
        p = self.program
        re, im, norm2, jumps = state
        t = tape if tape is not None else self._dummy
        nk.forward(
            re,
            im,
            norm2,
            jumps,
            b0,
            b1,
            p.num_qubits,
            self.block_size,
            p.block_qubits,
            p.block_start,
            p.elem_kind,
            p.elem_pos,
            p.elem_slot,
            elems,
            clean,
            p.mix_ops,
            p.mix_identity,
            choices,
            p.ad_gamma,
            p.ad_lower,
            uniforms,
            self.split if tape is not None else p.num_blocks,
            self.train_index,
            self.store_index if tape is not None else self._no_store,
            t.eff,
            t.special,
            t.gmat,
            t.gclean,
            t.store_re,
            t.store_im,
            self.stats,
            p.ph_start,
            p.ph_bit,
            half,
            self.ph_fixed,
            self.fixed_re,
            self.fixed_im,
        )

    @property
    def _dummy(self) -> Tape:
        e4 = np.zeros((1, 1, 4, 4), dtype=np.complex128)
        es = np.zeros((1, 1, 1), dtype=np.float32)
        return Tape(es, es, np.zeros(1), e4, np.zeros((1, 1), dtype=bool), e4, e4[0], es, es)

    def chunk_rows(self) -> int:
        """Trajectories per kernel call: a batch of about 1 MB (the per-block pass stays in the
        cache levels near the core), at least 16 (the trajectory loop is the vectorized one)."""
        return int(max(16, min(64, (1 << 20) // (8 << self.program.num_qubits))))

    def run(
        self,
        symbols: np.ndarray,
        rows: int,
        rng: np.random.Generator,
        record: bool = False,
        detuning: np.ndarray | None = None,
    ) -> tuple[np.ndarray, list[list[Tape]] | None]:
        """symbols (H, n_symbols), one row per head -> probabilities (H, R, 2^N) float64 of R
        trajectories per head (each normalized, circuit qubit order), and per head the tapes of
        its chunks of trajectories if ``record``. Deterministic given ``rng``'s state.
        ``detuning`` (num_qubits,) rad/ns, if given, is every trajectory's quasi-static detuning
        instead of a draw: the trajectories then sample the circuit conditioned on it."""
        p = self.program
        # the detunings are drawn first, and only if there are any: their values do not depend on
        # how many other draws the program needs, and a program without them draws as before
        if detuning is not None:
            delta = np.broadcast_to(np.asarray(detuning, dtype=np.float64), (rows, p.num_qubits))
        elif len(p.qs_mix):
            delta = rng.standard_normal((rows, p.num_qubits)) * p.qs_sigma[None, :]
        else:
            delta = None
        choices = sample_mixtures(p, rows, rng)
        uniforms = rng.random((rows, JUMP_DRAWS))
        if delta is not None and len(p.ph_qubit):  # exp(-i delta t Z / 2): half angle delta t / 2
            half = np.ascontiguousarray(0.5 * delta[:, p.ph_qubit] * p.ph_time[None, :])
        else:
            half = np.zeros((rows, max(len(p.ph_qubit), 1)))
        matrices = [self._matrices(symbols[0])]
        for h in range(1, symbols.shape[0]):
            matrices.append(self._matrices(symbols[h]))
        probs = np.empty((symbols.shape[0], rows, 1 << p.num_qubits))
        tapes: list[list[Tape]] = [[] for _ in range(symbols.shape[0])]
        step = self.chunk_rows()
        for start in range(0, rows, step):
            part = slice(start, min(rows, start + step))
            chunk_probs, chunk_tapes = self._run_chunk(
                matrices, choices[part], uniforms[part], np.ascontiguousarray(half[part]), rng, record
            )
            probs[:, part] = chunk_probs
            for h, tape in enumerate(chunk_tapes):
                tapes[h].append(tape)
        return probs, (tapes if record else None)

    def _run_chunk(self, matrices, choices, uniforms, half, rng, record: bool) -> tuple[np.ndarray, list[Tape]]:
        p = self.program
        size, rows = 1 << p.num_qubits, choices.shape[0]
        while True:
            re = np.zeros((size, rows), dtype=np.float32)
            im = np.zeros((size, rows), dtype=np.float32)
            re[0] = 1.0
            state = (re, im, np.ones(rows), np.zeros(rows, dtype=np.int64))
            self._forward(state, 0, self.split, *matrices[0], choices, uniforms, half, None)
            probs, tapes, exhausted = [], [], False
            for elems, clean in matrices:
                hs = tuple(x.copy() for x in state) if len(matrices) > 1 else state
                tape = self._new_tape(rows) if record else None
                self._forward(hs, self.split, p.num_blocks, elems, clean, choices, uniforms, half, tape)
                re_h, im_h, _, jumps = hs
                exhausted |= bool((jumps >= uniforms.shape[1]).any())
                pr = re_h.T.astype(np.float64) ** 2 + im_h.T.astype(np.float64) ** 2
                norm2 = pr.sum(axis=1)
                probs.append(p.to_circuit_order(pr / norm2[:, None]))
                if tape is not None:
                    tape.final_re, tape.final_im, tape.norm2 = re_h, im_h, norm2
                    tape.ph_half = half
                    tapes.append(tape)
            if not exhausted:
                return np.stack(probs), tapes
            # a trajectory needed more waiting-time draws than were drawn: extend them (the first
            # ones stay, so the run is the one a longer draw from the start would give)
            uniforms = np.concatenate([uniforms, rng.random(uniforms.shape)], axis=1)

    def _new_tape(self, rows: int) -> Tape:
        p = self.program
        size = 1 << p.num_qubits
        stored = max(int((self.store_index >= 0).sum()), 1)
        region = max(p.num_blocks - self.split, 1)
        n_train = max(len(self.train_slots), 1)
        return Tape(
            final_re=np.empty(0, dtype=np.float32),
            final_im=np.empty(0, dtype=np.float32),
            norm2=np.empty(0),
            eff=np.zeros((rows, region, 4, 4), dtype=np.complex128),
            special=np.zeros((rows, region), dtype=bool),
            gmat=np.zeros((rows, n_train, 4, 4), dtype=np.complex128),
            gclean=np.zeros((n_train, 4, 4), dtype=np.complex128),
            store_re=np.zeros((stored, size, rows), dtype=np.float32),
            store_im=np.zeros((stored, size, rows), dtype=np.float32),
        )

    def gradient(self, tapes: list[Tape], clean: np.ndarray, dl_dp: np.ndarray) -> np.ndarray:
        """dl_dp (R, 2^N): dL/dp^_r for each trajectory's normalized distribution (circuit qubit
        order) -> dL/dangle (n_slots,) summed over trajectories (the estimator in the module
        docstring). ``tapes``: one head's, from ``run``; ``clean``: its error-free block
        matrices (``clean_matrices``)."""
        out = np.zeros(len(self.program.table.const))
        start = 0
        for tape in tapes:
            rows = tape.norm2.shape[0]
            out += self._gradient(tape, clean, dl_dp[start : start + rows])
            start += rows
        return out

    def _gradient(self, tape: Tape, clean: np.ndarray, dl_dp: np.ndarray) -> np.ndarray:
        p = self.program
        c2 = 1.0 / tape.norm2  # phi = c (w * psi_final), psi_final = c psi_end: c^2 w psi_end
        w = (p.to_kernel_order(dl_dp) * c2[:, None]).T
        phi_re = (w * tape.final_re).astype(np.float32)
        phi_im = (w * tape.final_im).astype(np.float32)
        grads = np.zeros((phi_re.shape[1], max(len(self.train_slots), 1)))
        nk.backward(
            phi_re,
            phi_im,
            self.split,
            p.num_blocks,
            p.num_qubits,
            self.block_size,
            p.block_qubits,
            p.block_start,
            clean,
            self.train_index,
            self.store_index,
            tape.eff,
            tape.special,
            tape.gmat,
            tape.gclean,
            tape.store_re,
            tape.store_im,
            grads,
            p.ph_start,
            p.ph_bit,
            tape.ph_half,
            self.ph_fixed,
            self.fixed_re,
            self.fixed_im,
        )
        out = np.zeros(len(p.table.const))
        np.add.at(out, self.train_slots, grads[:, : len(self.train_slots)].sum(axis=0))
        return out
