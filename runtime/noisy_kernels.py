"""Compiled (numba) kernels of the batched trajectory engine: one trajectory per row.

A batch of R trajectories is kept as separate real and imaginary float32 arrays of shape
(2^N, R), qubit 0 the most significant bit of the first index and the trajectories innermost, so
every block's loop over trajectories is contiguous and vectorizes whichever qubits it acts on
(with trajectories outermost, blocks on the least significant qubits leave runs of 1-8
amplitudes, which do not). Every block of a ``NoisyProgram`` is a 4 x 4 matrix on two qubits:
the error-free matrix M is applied to all trajectories in one pass; a trajectory with a drawn
error or a damping jump in the block then gets the correction M_r M^-1 (M is invertible: its
factors are unitaries and K0 with gamma < 1).

Amplitude damping keeps qsim's state-dependent semantics through the standard waiting-time
(quantum-jump) construction. Apply the no-jump Kraus operators K0 = diag(1, sqrt(1 - gamma))
without renormalizing; unitaries and the drawn unitaries of mixtures keep the norm, K0 can only
shrink it, so ||psi~_k||^2 is non-increasing and equals the probability that no jump happened up
to damping channel k (given the mixture draws). Draw u ~ U(0, 1) and jump at the first channel
whose K0 would take ||psi~||^2 below u: that happens at channel k with probability
||psi~_{k-1}||^2 - ||K0 psi~_{k-1}||^2 = gamma_k ||P1 psi~_{k-1}||^2, exactly the probability of
choosing K1 at channel k after no jump before, as sequential sampling would. After a jump the
state is K1 psi~ normalized, and the construction restarts with a fresh u. Since
||M psi||^2 >= prod(1 - gamma) ||psi||^2 over a block's damping channels (``ad_lower``), a block
whose lower bound stays above u cannot hold a jump and is applied as one fused matrix; only the
others are stepped element by element, and then on the block's 4 x 4 reduced Gram matrix rho
(rho -> E rho E^dagger), which gives every ||P1 psi||^2 without another pass over the state
(rho before the block is M^-1 rho_after M^-dagger, read after the shared pass).

Every pass runs over the first ``size`` rows of the batch only: the engine numbers the qubits so
that those hold every amplitude that can be non-zero before the block (``engine_layout``).
Diagonal phases between blocks (quasi-static detunings, per trajectory, and static ZZ, the same
for all) are one ``apply_phases`` pass each (``phase_fusion``).

``forward`` records, for the blocks of the trainable region, every row's realized block matrix
(with its drawn errors, jumps and renormalizations) and, for each trainable rotation in them,
G = A2 P R A1 (the block with the rotation replaced by its derivative times 2i); ``backward``
sweeps the co-state through the adjoints of those matrices and collects
dL/dtheta = Im <phi_after_block | G | psi_before_block>.
"""

from __future__ import annotations

import numpy as np
from numba import njit

FIXED, RX, RY, RZ, MIX, AD = 0, 1, 2, 3, 4, 5


@njit(cache=True)
def choose_mixtures(u: np.ndarray, mix_start: np.ndarray, mix_cum: np.ndarray) -> np.ndarray:
    """u (rows, n_mix) uniforms -> the chosen op index of each mixture (first cum > u)."""
    rows, n_mix = u.shape
    out = np.empty((rows, n_mix), dtype=np.int64)
    for r in range(rows):
        for m in range(n_mix):
            lo, hi = mix_start[m], mix_start[m + 1]
            k = lo
            while k < hi - 1 and mix_cum[k] <= u[r, m]:
                k += 1
            out[r, m] = k
    return out


@njit(cache=True)
def _embed(m2: np.ndarray, pos: int) -> np.ndarray:
    out = np.zeros((4, 4), dtype=np.complex128)
    for i in range(2):
        for j in range(2):
            if pos == 0:  # m (x) I
                out[2 * i, 2 * j] = m2[i, j]
                out[2 * i + 1, 2 * j + 1] = m2[i, j]
            else:  # I (x) m
                out[i, j] = m2[i, j]
                out[2 + i, 2 + j] = m2[i, j]
    return out


@njit(cache=True)
def _rotation(kind: int, theta: float) -> np.ndarray:
    c, s = np.cos(theta / 2), np.sin(theta / 2)
    m = np.zeros((2, 2), dtype=np.complex128)
    if kind == RX:
        m[0, 0], m[0, 1], m[1, 0], m[1, 1] = c, -1j * s, -1j * s, c
    elif kind == RY:
        m[0, 0], m[0, 1], m[1, 0], m[1, 1] = c, -s, s, c
    else:
        m[0, 0], m[1, 1] = np.exp(-0.5j * theta), np.exp(0.5j * theta)
    return m


@njit(cache=True)
def _pauli(kind: int) -> np.ndarray:
    m = np.zeros((2, 2), dtype=np.complex128)
    if kind == RX:
        m[0, 1], m[1, 0] = 1.0, 1.0
    elif kind == RY:
        m[0, 1], m[1, 0] = -1j, 1j
    else:
        m[0, 0], m[1, 1] = 1.0, -1.0
    return m


@njit(cache=True)
def _k0(gamma: float) -> np.ndarray:
    m = np.zeros((2, 2), dtype=np.complex128)
    m[0, 0], m[1, 1] = 1.0, np.sqrt(1.0 - gamma)
    return m


@njit(cache=True)
def element_matrices(
    kind: np.ndarray, pos: np.ndarray, slot: np.ndarray, angles: np.ndarray, fixed: np.ndarray, ad_gamma: np.ndarray
) -> np.ndarray:
    """Every element's error-free matrix on its block's basis: gates bound to ``angles``, the
    identity for mixtures, K0 for amplitude damping."""
    n = len(kind)
    out = np.zeros((n, 4, 4), dtype=np.complex128)
    for e in range(n):
        k = kind[e]
        if k == FIXED:
            out[e] = fixed[slot[e]]
        elif k == MIX:
            for i in range(4):
                out[e, i, i] = 1.0
        elif k == AD:
            out[e] = _embed(_k0(ad_gamma[slot[e]]), pos[e])
        else:
            out[e] = _embed(_rotation(k, angles[slot[e]]), pos[e])
    return out


@njit(cache=True)
def block_products(block_start: np.ndarray, elems: np.ndarray) -> np.ndarray:
    """(n_blocks, 4, 4): each block's elements multiplied in time order (later on the left)."""
    nb = len(block_start) - 1
    out = np.zeros((nb, 4, 4), dtype=np.complex128)
    for b in range(nb):
        m = np.eye(4, dtype=np.complex128)
        for e in range(block_start[b], block_start[b + 1]):
            m = elems[e] @ m
        out[b] = m
    return out


@njit(cache=True, fastmath=True, inline="always")
def _run(x0, y0, x1, y1, x2, y2, x3, y3, mr: np.ndarray, mi: np.ndarray) -> None:
    """new_j = sum_l m[j, l] old_l elementwise over four contiguous (re, im) streams."""
    r00, r01, r02, r03 = mr[0], mr[1], mr[2], mr[3]
    r10, r11, r12, r13 = mr[4], mr[5], mr[6], mr[7]
    r20, r21, r22, r23 = mr[8], mr[9], mr[10], mr[11]
    r30, r31, r32, r33 = mr[12], mr[13], mr[14], mr[15]
    i00, i01, i02, i03 = mi[0], mi[1], mi[2], mi[3]
    i10, i11, i12, i13 = mi[4], mi[5], mi[6], mi[7]
    i20, i21, i22, i23 = mi[8], mi[9], mi[10], mi[11]
    i30, i31, i32, i33 = mi[12], mi[13], mi[14], mi[15]
    for r in range(x0.shape[0]):
        ar0, ai0, ar1, ai1 = x0[r], y0[r], x1[r], y1[r]
        ar2, ai2, ar3, ai3 = x2[r], y2[r], x3[r], y3[r]
        x0[r] = r00 * ar0 - i00 * ai0 + r01 * ar1 - i01 * ai1 + r02 * ar2 - i02 * ai2 + r03 * ar3 - i03 * ai3
        y0[r] = r00 * ai0 + i00 * ar0 + r01 * ai1 + i01 * ar1 + r02 * ai2 + i02 * ar2 + r03 * ai3 + i03 * ar3
        x1[r] = r10 * ar0 - i10 * ai0 + r11 * ar1 - i11 * ai1 + r12 * ar2 - i12 * ai2 + r13 * ar3 - i13 * ai3
        y1[r] = r10 * ai0 + i10 * ar0 + r11 * ai1 + i11 * ar1 + r12 * ai2 + i12 * ar2 + r13 * ai3 + i13 * ar3
        x2[r] = r20 * ar0 - i20 * ai0 + r21 * ar1 - i21 * ai1 + r22 * ar2 - i22 * ai2 + r23 * ar3 - i23 * ai3
        y2[r] = r20 * ai0 + i20 * ar0 + r21 * ai1 + i21 * ar1 + r22 * ai2 + i22 * ar2 + r23 * ai3 + i23 * ar3
        x3[r] = r30 * ar0 - i30 * ai0 + r31 * ar1 - i31 * ai1 + r32 * ar2 - i32 * ai2 + r33 * ar3 - i33 * ai3
        y3[r] = r30 * ai0 + i30 * ar0 + r31 * ai1 + i31 * ar1 + r32 * ai2 + i32 * ar2 + r33 * ai3 + i33 * ar3


@njit(cache=True, fastmath=True)
def apply_all(
    xr: np.ndarray,
    xi: np.ndarray,
    n: int,
    size: int,
    qa: int,
    qb: int,
    m: np.ndarray,
    fix_rows: np.ndarray,
    fix_mats: np.ndarray,
    gram_rows: np.ndarray,
) -> tuple:
    """Apply the 4 x 4 matrix m (basis |a b>) to every trajectory (column) in place, then
    fix_mats[s] to trajectory fix_rows[s], and accumulate the reduced Gram matrices (after both)
    of the trajectories ``gram_rows``; returns (squared norms of the fixed ones, Gram matrices).
    A run of amplitudes with the same (a, b) bits is contiguous together with its trajectories
    (lo R floats), so the shared matrix is one vectorized loop per run; the per-trajectory work
    follows on the same run while it is in cache (a trajectory's amplitudes are R floats apart,
    so a separate pass for one trajectory would read every cache line of the state again)."""
    s0 = 1 << (n - 1 - qa)
    s1 = 1 << (n - 1 - qb)
    hi, lo = max(s0, s1), min(s0, s1)
    rows = xr.shape[1]
    fr, fi = xr.reshape(-1), xi.reshape(-1)
    mr = m.real.astype(np.float32).reshape(-1)
    mi = m.imag.astype(np.float32).reshape(-1)
    n_fix, n_gram = len(fix_rows), len(gram_rows)
    fmr = np.ascontiguousarray(fix_mats.real).reshape(n_fix, 16).astype(np.float32)
    fmi = np.ascontiguousarray(fix_mats.imag).reshape(n_fix, 16).astype(np.float32)
    norms = np.zeros(n_fix)
    acc = np.zeros((n_gram, 16))
    width = lo * rows
    d1, d0 = s1 * rows, s0 * rows
    for i0 in range(0, size, 2 * hi):
        for i1 in range(i0, i0 + hi, 2 * lo):
            a = i1 * rows
            b, c = a + d1, a + d0
            d = c + d1
            _run(
                fr[a : a + width],
                fi[a : a + width],
                fr[b : b + width],
                fi[b : b + width],
                fr[c : c + width],
                fi[c : c + width],
                fr[d : d + width],
                fi[d : d + width],
                mr,
                mi,
            )
            for s in range(n_fix):
                norms[s] += _fix_run(xr, xi, i1, lo, s0, s1, fix_rows[s], fmr[s], fmi[s])
            for s in range(n_gram):
                _gram_run(xr, xi, i1, lo, s0, s1, gram_rows[s], acc[s])
    return norms, _gram_matrices(acc)


@njit(cache=True, fastmath=True, inline="always")
def _fix_run(xr, xi, i1: int, lo: int, s0: int, s1: int, r: int, a: np.ndarray, c: np.ndarray) -> float:
    norm = 0.0
    for k0 in range(i1, i1 + lo):
        k1, k2 = k0 + s1, k0 + s0
        k3 = k2 + s1
        ar0, ai0, ar1, ai1 = xr[k0, r], xi[k0, r], xr[k1, r], xi[k1, r]
        ar2, ai2, ar3, ai3 = xr[k2, r], xi[k2, r], xr[k3, r], xi[k3, r]
        nr0 = a[0] * ar0 - c[0] * ai0 + a[1] * ar1 - c[1] * ai1 + a[2] * ar2 - c[2] * ai2 + a[3] * ar3 - c[3] * ai3
        ni0 = a[0] * ai0 + c[0] * ar0 + a[1] * ai1 + c[1] * ar1 + a[2] * ai2 + c[2] * ar2 + a[3] * ai3 + c[3] * ar3
        nr1 = a[4] * ar0 - c[4] * ai0 + a[5] * ar1 - c[5] * ai1 + a[6] * ar2 - c[6] * ai2 + a[7] * ar3 - c[7] * ai3
        ni1 = a[4] * ai0 + c[4] * ar0 + a[5] * ai1 + c[5] * ar1 + a[6] * ai2 + c[6] * ar2 + a[7] * ai3 + c[7] * ar3
        nr2 = a[8] * ar0 - c[8] * ai0 + a[9] * ar1 - c[9] * ai1 + a[10] * ar2 - c[10] * ai2 + a[11] * ar3 - c[11] * ai3
        ni2 = a[8] * ai0 + c[8] * ar0 + a[9] * ai1 + c[9] * ar1 + a[10] * ai2 + c[10] * ar2 + a[11] * ai3 + c[11] * ar3
        nr3 = (
            a[12] * ar0
            - c[12] * ai0
            + a[13] * ar1
            - c[13] * ai1
            + a[14] * ar2
            - c[14] * ai2
            + a[15] * ar3
            - c[15] * ai3
        )
        ni3 = (
            a[12] * ai0
            + c[12] * ar0
            + a[13] * ai1
            + c[13] * ar1
            + a[14] * ai2
            + c[14] * ar2
            + a[15] * ai3
            + c[15] * ar3
        )
        xr[k0, r], xi[k0, r], xr[k1, r], xi[k1, r] = nr0, ni0, nr1, ni1
        xr[k2, r], xi[k2, r], xr[k3, r], xi[k3, r] = nr2, ni2, nr3, ni3
        norm += nr0 * nr0 + ni0 * ni0 + nr1 * nr1 + ni1 * ni1 + nr2 * nr2 + ni2 * ni2 + nr3 * nr3 + ni3 * ni3
    return norm


@njit(cache=True, fastmath=True, inline="always")
def _gram_run(xr, xi, i1: int, lo: int, s0: int, s1: int, r: int, g: np.ndarray) -> None:
    """Accumulate the upper triangle of a_j conj(a_l) (4 diagonal, then re/im of 6 pairs)."""
    for k0 in range(i1, i1 + lo):
        k1, k2 = k0 + s1, k0 + s0
        k3 = k2 + s1
        x0, y0, x1, y1 = xr[k0, r], xi[k0, r], xr[k1, r], xi[k1, r]
        x2, y2, x3, y3 = xr[k2, r], xi[k2, r], xr[k3, r], xi[k3, r]
        g[0] += x0 * x0 + y0 * y0
        g[1] += x1 * x1 + y1 * y1
        g[2] += x2 * x2 + y2 * y2
        g[3] += x3 * x3 + y3 * y3
        g[4] += x0 * x1 + y0 * y1
        g[5] += y0 * x1 - x0 * y1
        g[6] += x0 * x2 + y0 * y2
        g[7] += y0 * x2 - x0 * y2
        g[8] += x0 * x3 + y0 * y3
        g[9] += y0 * x3 - x0 * y3
        g[10] += x1 * x2 + y1 * y2
        g[11] += y1 * x2 - x1 * y2
        g[12] += x1 * x3 + y1 * y3
        g[13] += y1 * x3 - x1 * y3
        g[14] += x2 * x3 + y2 * y3
        g[15] += y2 * x3 - x2 * y3


@njit(cache=True)
def _gram_matrices(acc: np.ndarray) -> np.ndarray:
    count = acc.shape[0]
    rho = np.zeros((count, 4, 4), dtype=np.complex128)
    for s in range(count):
        g = acc[s]
        for j in range(4):
            rho[s, j, j] = g[j]
        k = 4
        for j in range(4):
            for m in range(j + 1, 4):
                rho[s, j, m] = complex(g[k], g[k + 1])
                rho[s, m, j] = complex(g[k], -g[k + 1])
                k += 2
    return rho


@njit(cache=True)
def _offsets(n: int, qa: int, qb: int) -> tuple:
    s0 = 1 << (n - 1 - qa)
    s1 = 1 << (n - 1 - qb)
    return s0, s1, max(s0, s1), min(s0, s1)


@njit(cache=True, fastmath=True)
def bilinear_some(
    pr: np.ndarray,
    pi: np.ndarray,
    sr: np.ndarray,
    si: np.ndarray,
    n: int,
    size: int,
    qa: int,
    qb: int,
    rows: np.ndarray,
    gs: np.ndarray,
) -> np.ndarray:
    """Im sum_rest phi^dagger gs[s] psi on (a, b) for each trajectory rows[s]
    (phi = (pr, pi), psi = (sr, si)), in one pass for all of them."""
    s0, s1, hi, lo = _offsets(n, qa, qb)
    count = len(rows)
    gr = np.ascontiguousarray(gs.real).reshape(count, 16)
    gi = np.ascontiguousarray(gs.imag).reshape(count, 16)
    total = np.zeros(count)
    for i0 in range(0, size, 2 * hi):
        for i1 in range(i0, i0 + hi, 2 * lo):
            for k0 in range(i1, i1 + lo):
                ks = (k0, k0 + s1, k0 + s0, k0 + s0 + s1)
                for s in range(count):
                    r = rows[s]
                    t = 0.0
                    for j in range(4):
                        vr, vi = 0.0, 0.0
                        for m in range(4):
                            a, c = gr[s, 4 * j + m], gi[s, 4 * j + m]
                            xr_, xi_ = sr[ks[m], r], si[ks[m], r]
                            vr += a * xr_ - c * xi_
                            vi += a * xi_ + c * xr_
                        t += pr[ks[j], r] * vi - pi[ks[j], r] * vr  # Im(conj(phi_j) v_j)
                    total[s] += t
    return total


@njit(cache=True)
def _product(mats: np.ndarray, lo: int, hi: int) -> np.ndarray:
    m = np.eye(4, dtype=np.complex128)
    for i in range(lo, hi):
        m = mats[i] @ m
    return m


@njit(cache=True)
def _derivatives(mats: np.ndarray, lo: int, kind: np.ndarray, pos: np.ndarray, train_index: np.ndarray, out) -> None:
    """out[t] = A2 P R A1 for every trainable rotation t among the block's realized ``mats``."""
    k = mats.shape[0]
    for i in range(k):
        t = train_index[lo + i]
        if t >= 0:
            deriv = _embed(_pauli(kind[lo + i]), pos[lo + i]) @ mats[i]
            out[t] = _product(mats, i + 1, k) @ deriv @ _product(mats, 0, i)


@njit(cache=True)
def forward(
    xr: np.ndarray,
    xi: np.ndarray,
    bound: np.ndarray,
    jumps: np.ndarray,
    b_start: int,
    b_end: int,
    n: int,
    block_size: np.ndarray,
    block_qubits: np.ndarray,
    block_start: np.ndarray,
    kind: np.ndarray,
    pos: np.ndarray,
    slot: np.ndarray,
    elems: np.ndarray,
    clean: np.ndarray,
    mix_ops: np.ndarray,
    mix_identity: np.ndarray,
    choices: np.ndarray,
    ad_gamma: np.ndarray,
    ad_lower: np.ndarray,
    uniforms: np.ndarray,
    record_from: int,
    train_index: np.ndarray,
    store_index: np.ndarray,
    eff: np.ndarray,
    special: np.ndarray,
    gmat: np.ndarray,
    gclean: np.ndarray,
    store_re: np.ndarray,
    store_im: np.ndarray,
    stats: np.ndarray,
    ph_start: np.ndarray,
    ph_bit: np.ndarray,
    ph_half: np.ndarray,
    ph_fixed: np.ndarray,
    fixed_re: np.ndarray,
    fixed_im: np.ndarray,
) -> None:
    """Blocks [b_start, b_end) on every trajectory. ``bound`` (a lower bound on each squared
    norm, exact after every check) and ``jumps`` (jumps so far, which indexes the trajectory's
    next waiting-time uniform) carry over between calls. From block
    ``record_from`` on, trajectories with their own block matrix are marked in ``special`` and
    their matrix goes to ``eff`` and, for each rotation with a ``train_index``, G = A2 P R A1 to
    ``gmat`` (the error-free G to ``gclean``); blocks with a ``store_index`` keep the states
    before them in ``store_re`` / ``store_im`` for the backward sweep. ``stats`` counts
    trajectory-blocks with drawn errors, with a damping check, and with a jump."""
    rows = xr.shape[1]
    for b in range(b_start, b_end):
        qa, qb = block_qubits[b, 0], block_qubits[b, 1]
        size = block_size[b]
        lo, hi = block_start[b], block_start[b + 1]
        m = clean[b]
        recording = b >= record_from
        p0, p1, f = ph_start[b], ph_start[b + 1], max(ph_fixed[b], 0)
        if p0 < p1 or ph_fixed[b] >= 0:  # the detunings' and ZZ phases due before this block
            apply_phases(
                xr, xi, n, size, ph_bit[p0:p1], ph_half[:, p0:p1], 1.0, fixed_re[f], fixed_im[f], ph_fixed[b] >= 0
            )
        if recording:
            _derivatives(elems[lo:hi], lo, kind, pos, train_index, gclean)
        if store_index[b] >= 0:
            store_re[store_index[b]] = xr
            store_im[store_index[b]] = xi
        # which trajectories need more than the shared matrix: a drawn error, or a damping
        # threshold that the block could cross by the norm bound
        err = np.zeros(rows, dtype=np.bool_)
        risk = np.zeros(rows, dtype=np.bool_)
        for r in range(rows):
            for e in range(lo, hi):
                if kind[e] == MIX and not mix_identity[choices[r, slot[e]]]:
                    err[r] = True
            j = jumps[r]
            thr = uniforms[r, j] if j < uniforms.shape[1] else -1.0
            risk[r] = ad_lower[b] < 1.0 and bound[r] * ad_lower[b] < thr
            bound[r] *= ad_lower[b]  # ||M psi||^2 >= prod(1 - gamma) ||psi||^2, errors or not
        err_rows = np.flatnonzero(err)
        risky = np.flatnonzero(risk)
        stats[0] += len(err_rows)
        stats[1] += len(risky)
        minv = np.ascontiguousarray(np.linalg.inv(m)) if len(err_rows) or len(risky) else m
        # drawn errors are known before the pass: their matrices go into it
        own = np.zeros((rows, 4, 4), dtype=np.complex128)  # each special trajectory's block matrix
        err_fix = np.empty((len(err_rows), 4, 4), dtype=np.complex128)
        for s in range(len(err_rows)):
            r = err_rows[s]
            mats, _ = _realize(
                r, lo, hi, False, own[r], 0.0, kind, pos, slot, elems, mix_ops, choices, ad_gamma, uniforms, jumps
            )
            own[r] = _product(mats, 0, hi - lo)
            err_fix[s] = own[r] @ minv
            if recording:
                special[r, b - record_from] = True
                eff[r, b - record_from] = own[r]
                _derivatives(mats, lo, kind, pos, train_index, gmat[r])
        norms, rhos = apply_all(xr, xi, n, size, qa, qb, m, err_rows, err_fix, risky)
        for s in range(len(err_rows)):
            bound[err_rows[s]] = norms[s]
        if not len(risky):
            continue
        # at-risk trajectories: step the block's elements on the Gram matrix before it
        jump_rows = np.empty(len(risky), dtype=np.int64)
        jump_fix = np.empty((len(risky), 4, 4), dtype=np.complex128)
        n_jump = 0
        for s in range(len(risky)):
            r = risky[s]
            post = np.ascontiguousarray(rhos[s])
            bound[r] = post[0, 0].real + post[1, 1].real + post[2, 2].real + post[3, 3].real
            applied_inv = np.ascontiguousarray(np.linalg.inv(own[r])) if err[r] else minv
            rho = applied_inv @ post @ applied_inv.conj().T
            pre_norm = rho[0, 0].real + rho[1, 1].real + rho[2, 2].real + rho[3, 3].real
            jumps_before = jumps[r]
            mats, _ = _realize(
                r, lo, hi, True, rho, pre_norm, kind, pos, slot, elems, mix_ops, choices, ad_gamma, uniforms, jumps
            )
            if jumps[r] == jumps_before:
                continue  # no jump: the matrix applied was the right one (exact norm now known)
            mine = _product(mats, 0, hi - lo)
            jump_rows[n_jump] = r
            jump_fix[n_jump] = mine @ applied_inv
            n_jump += 1
            if recording:
                special[r, b - record_from] = True
                eff[r, b - record_from] = mine
                _derivatives(mats, lo, kind, pos, train_index, gmat[r])
        stats[2] += n_jump
        if n_jump:
            norms = fix_some(xr, xi, n, size, qa, qb, jump_rows[:n_jump], jump_fix[:n_jump])
            for s in range(n_jump):
                bound[jump_rows[s]] = norms[s]


@njit(cache=True, fastmath=True)
def apply_phases(
    xr: np.ndarray,
    xi: np.ndarray,
    n: int,
    size: int,
    bits: np.ndarray,
    half: np.ndarray,
    sign: float,
    fre: np.ndarray,
    fim: np.ndarray,
    fixed: bool,
) -> None:
    """Multiply every trajectory r (column) by the diagonal prod_k exp(-i sign half[r, k] Z_k),
    Z_k on bit position bits[k], and, if ``fixed``, by the trajectory-independent diagonal
    (fre + i fim)[x] (its conjugate for sign -1: the adjoint of a diagonal unitary): one pass
    over the first ``size`` rows of the batch with a (2^k, R) table of the per-trajectory factors."""
    k, rows = len(bits), xr.shape[1]
    tr = np.empty((1 << k, rows), dtype=np.float32)
    ti = np.empty((1 << k, rows), dtype=np.float32)
    for j in range(1 << k):
        for r in range(rows):
            a = 0.0
            for m in range(k):
                z = 1.0 - 2.0 * ((j >> m) & 1)
                a -= sign * z * half[r, m]
            tr[j, r] = np.cos(a)
            ti[j, r] = np.sin(a)
    shifts = np.empty(k, dtype=np.int64)
    for m in range(k):
        shifts[m] = n - 1 - bits[m]
    for x in range(size):
        j = 0
        for m in range(k):
            j |= ((x >> shifts[m]) & 1) << m
        if fixed:
            cr, ci = fre[x], np.float32(sign) * fim[x]
            for r in range(rows):
                ar, ai = xr[x, r], xi[x, r]
                br = tr[j, r] * cr - ti[j, r] * ci
                bi = tr[j, r] * ci + ti[j, r] * cr
                xr[x, r] = ar * br - ai * bi
                xi[x, r] = ar * bi + ai * br
        else:
            for r in range(rows):
                ar, ai = xr[x, r], xi[x, r]
                cr, ci = tr[j, r], ti[j, r]
                xr[x, r] = ar * cr - ai * ci
                xi[x, r] = ar * ci + ai * cr


@njit(cache=True, fastmath=True)
def fix_some(
    xr: np.ndarray, xi: np.ndarray, n: int, size: int, qa: int, qb: int, rows: np.ndarray, mats: np.ndarray
) -> np.ndarray:
    """Apply mats[s] to trajectory rows[s] only (one pass for all of them); their squared norms."""
    s0, s1, hi, lo = _offsets(n, qa, qb)
    count = len(rows)
    fmr = np.ascontiguousarray(mats.real).reshape(count, 16).astype(np.float32)
    fmi = np.ascontiguousarray(mats.imag).reshape(count, 16).astype(np.float32)
    norms = np.zeros(count)
    for i0 in range(0, size, 2 * hi):
        for i1 in range(i0, i0 + hi, 2 * lo):
            for s in range(count):
                norms[s] += _fix_run(xr, xi, i1, lo, s0, s1, rows[s], fmr[s], fmi[s])
    return norms


@njit(cache=True)
def backward(
    pr: np.ndarray,
    pi: np.ndarray,
    b_from: int,
    b_to: int,
    n: int,
    block_size: np.ndarray,
    block_qubits: np.ndarray,
    block_start: np.ndarray,
    clean: np.ndarray,
    train_index: np.ndarray,
    store_index: np.ndarray,
    eff: np.ndarray,
    special: np.ndarray,
    gmat: np.ndarray,
    gclean: np.ndarray,
    store_re: np.ndarray,
    store_im: np.ndarray,
    grads: np.ndarray,
    ph_start: np.ndarray,
    ph_bit: np.ndarray,
    ph_half: np.ndarray,
    ph_fixed: np.ndarray,
    fixed_re: np.ndarray,
    fixed_im: np.ndarray,
) -> None:
    """Co-states phi (2^N, R) at the end -> grads[r, t] = Im <phi after the block | G_t | psi
    before it> for every trainable rotation t in blocks [b_from, b_to), sweeping phi back through
    the adjoint of each trajectory's realized block matrix."""
    rows = pr.shape[1]
    out = np.empty(rows)
    for b in range(b_to - 1, b_from - 1, -1):
        qa, qb = block_qubits[b, 0], block_qubits[b, 1]
        size = block_size[b]
        mine = np.flatnonzero(special[:, b - b_from])
        s = store_index[b]
        if s >= 0:
            for e in range(block_start[b], block_start[b + 1]):
                t = train_index[e]
                if t < 0:
                    continue
                _bilinear_all(pr, pi, store_re[s], store_im[s], n, size, qa, qb, gclean[t], out)
                grads[:, t] = out
                if len(mine):
                    gs = np.empty((len(mine), 4, 4), dtype=np.complex128)
                    for i in range(len(mine)):
                        gs[i] = gmat[mine[i], t]
                    own = bilinear_some(pr, pi, store_re[s], store_im[s], n, size, qa, qb, mine, gs)
                    for i in range(len(mine)):
                        grads[mine[i], t] = own[i]
        madj = np.ascontiguousarray(clean[b].conj().T)
        fixes = np.empty((len(mine), 4, 4), dtype=np.complex128)
        if len(mine):
            minv = np.linalg.inv(madj)
            for i in range(len(mine)):
                fixes[i] = eff[mine[i], b - b_from].conj().T @ minv
        apply_all(pr, pi, n, size, qa, qb, madj, mine, fixes, mine[:0])
        p0, p1, f = ph_start[b], ph_start[b + 1], max(ph_fixed[b], 0)
        if p0 < p1 or ph_fixed[b] >= 0:  # the adjoint of the phases before the block
            apply_phases(
                pr, pi, n, size, ph_bit[p0:p1], ph_half[:, p0:p1], -1.0, fixed_re[f], fixed_im[f], ph_fixed[b] >= 0
            )


@njit(cache=True, fastmath=True)
def _bilinear_all(
    pr: np.ndarray,
    pi: np.ndarray,
    sr: np.ndarray,
    si: np.ndarray,
    n: int,
    size: int,
    qa: int,
    qb: int,
    g: np.ndarray,
    out,
) -> None:
    """``bilinear_some`` for every trajectory with one matrix g (the error-free one)."""
    s0, s1, hi, lo = _offsets(n, qa, qb)
    rows = pr.shape[1]
    gr = g.real
    gi = g.imag
    tr = np.zeros(rows)
    for i0 in range(0, size, 2 * hi):
        for i1 in range(i0, i0 + hi, 2 * lo):
            for k in range(i1, i1 + lo):
                ks = (k, k + s1, k + s0, k + s0 + s1)
                for j in range(4):
                    for m in range(4):
                        a, c = gr[j, m], gi[j, m]
                        for r in range(rows):
                            # Im(conj(phi_j) g_jm psi_m)
                            fr, fi = pr[ks[j], r], pi[ks[j], r]
                            sr_, si_ = sr[ks[m], r], si[ks[m], r]
                            gr_ = a * sr_ - c * si_
                            gi_ = a * si_ + c * sr_
                            tr[r] += fr * gi_ - fi * gr_
    out[:] = tr


@njit(cache=True)
def _realize(
    r: int,
    lo: int,
    hi: int,
    stepped: bool,
    rho: np.ndarray,
    norm2: float,
    kind: np.ndarray,
    pos: np.ndarray,
    slot: np.ndarray,
    elems: np.ndarray,
    mix_ops: np.ndarray,
    choices: np.ndarray,
    ad_gamma: np.ndarray,
    uniforms: np.ndarray,
    jumps: np.ndarray,
) -> tuple:
    """Trajectory r's element matrices in one block: the drawn op of each mixture, and for each
    damping channel K0 or, when ``stepped`` finds the waiting-time threshold crossed there, the
    jump K1 / ||K1 psi|| (then the next uniform is the threshold). ``rho``, ``norm2``: the Gram
    matrix and squared norm before the block (used when ``stepped``)."""
    out = np.empty((hi - lo, 4, 4), dtype=np.complex128)
    for e in range(lo, hi):
        k = kind[e]
        if k == MIX:
            out[e - lo] = mix_ops[choices[r, slot[e]]]
        elif k == AD and stepped:
            gamma = ad_gamma[slot[e]]
            p = pos[e]
            m1 = (rho[2, 2] + rho[3, 3]).real if p == 0 else (rho[1, 1] + rho[3, 3]).real
            j = jumps[r]
            thr = uniforms[r, j] if j < uniforms.shape[1] else -1.0
            if gamma * m1 > 0 and norm2 - gamma * m1 < thr:
                k1 = np.zeros((2, 2), dtype=np.complex128)
                k1[0, 1] = 1.0 / np.sqrt(m1)  # sqrt(gamma) |0><1|, divided by ||K1 psi|| = sqrt(gamma m1)
                out[e - lo] = _embed(k1, p)
                jumps[r] = j + 1
            else:
                out[e - lo] = elems[e]
        else:
            out[e - lo] = elems[e]
        if stepped:
            m = out[e - lo]
            rho = m @ rho @ m.conj().T
            norm2 = rho[0, 0].real + rho[1, 1].real + rho[2, 2].real + rho[3, 3].real
    return out, norm2
