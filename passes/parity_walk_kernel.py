"""Beam search for one uniformly controlled RY on a coupling graph, compiled with numba.

The model (``passes.parity_walk`` says why it is exact): each wire holds a GF(2) linear form of
the variables, an int bitmask; a CNOT(a -> b) sets ``vals[b] ^= vals[a]``. Variable ``k`` is the
multiplexor's target. A rotation may be applied when exactly one wire holds the target bit; the
parity it rotates is that wire's mask without the target bit. The walk must rotate every one of
the 2^k parities once.

Each step extends every beam state by the CNOT sequences of minimal length d* (and up to
d* + ``extra``) that reach a parity not yet rotated, without passing one on the way; candidates
are ranked by CNOT count, then by how many single CNOTs would reach a further new parity
(look-ahead), then by a seeded random key, and the ``beam`` best distinct states (Zobrist hash of
wire values and rotated set) survive. Deterministic for a given seed.
"""

from __future__ import annotations

import numpy as np
from numba import njit

CANDIDATE_CAPACITY = 1 << 15
PER_STATE_CAP = 512  # candidates kept per beam state and step (the first found, shortest first)


@njit(cache=True)
def _xorshift(state):
    state ^= (state << np.uint64(13)) & np.uint64(0xFFFFFFFFFFFFFFFF)
    state ^= state >> np.uint64(7)
    state ^= (state << np.uint64(17)) & np.uint64(0xFFFFFFFFFFFFFFFF)
    return state


@njit(cache=True)
def _holder(vals, tbit):
    """The one wire holding the target bit, or -1 when none or several do."""
    h = -1
    for w in range(vals.shape[0]):
        if vals[w] & tbit:
            if h >= 0:
                return -1
            h = w
    return h


@njit(cache=True)
def _is_hit(vals, tbit, vis, closing):
    """(wire, parity) of a rotation the state allows, or (-1, -1)."""
    h = _holder(vals, tbit)
    if h < 0:
        return -1, -1
    m = vals[h] ^ tbit
    if m >= tbit:
        return -1, -1  # the wire also holds a qubit of a later level
    if closing:
        return (h, 0) if m == 0 else (-1, -1)
    if (vis[m >> 6] >> np.uint64(m & 63)) & np.uint64(1):
        return -1, -1
    return h, m


@njit(cache=True)
def _lookahead(vals, moves, tbit, vis, m_new):
    """How many single CNOTs from ``vals`` reach a parity outside ``vis`` + ``m_new``."""
    count = 0
    for i in range(moves.shape[0]):
        a, b = moves[i, 0], moves[i, 1]
        if vals[a] == 0:
            continue
        vals[b] ^= vals[a]
        h, m = _is_hit(vals, tbit, vis, False)
        if h >= 0 and m != m_new:
            count += 1
        vals[b] ^= vals[a]
    return count


@njit(cache=True)
def _commutes(moves, i, j):
    """CNOT(a -> b) and CNOT(c -> d) commute unless one's target is the other's control."""
    return moves[i, 1] != moves[j, 0] and moves[i, 0] != moves[j, 1]


@njit(cache=True)
def beam_walk(vals0, vis0, moves, k, beam, extra, maxd, seed):
    """Walk from ``vals0`` with the parities in ``vis0`` already rotated.

    Returns (done, history, beam): ``done`` is the number of steps completed (each step reaches
    one new parity); the history holds, per step and kept state, its parent, CNOT count, CNOTs
    and rotation (wire, parity); the beam after the last completed step is sorted best first
    (values, rotated set, cost). A step with no new parity within ``maxd`` CNOTs ends the search
    early (``passes.parity_walk`` then takes one constructive step and resumes)."""
    n_w = vals0.shape[0]
    tbit = np.int64(1) << k
    n_par = 1 << k
    n_words = (n_par + 63) >> 6
    steps = 0
    for m in range(n_par):
        if not (vis0[m >> 6] >> np.uint64(m & 63)) & np.uint64(1):
            steps += 1
    dmax = maxd + extra
    rng = np.uint64(0x9E3779B97F4A7C15) ^ np.uint64(seed + 1)
    every = np.int64(0)
    for w in range(n_w):
        every |= vals0[w]
    max_val = np.int64(1)
    while max_val <= every:
        max_val <<= 1
    zob_val = np.empty((n_w, max_val), np.uint64)
    for w in range(n_w):
        for v in range(max_val):
            rng = _xorshift(rng)
            zob_val[w, v] = rng
    zob_par = np.empty(n_par, np.uint64)
    for m in range(n_par):
        rng = _xorshift(rng)
        zob_par[m] = rng

    hist_parent = np.full((max(steps, 1), beam), -1, np.int64)
    hist_n = np.zeros((max(steps, 1), beam), np.int64)
    hist_moves = np.zeros((max(steps, 1), beam, dmax, 2), np.int64)
    hist_rot = np.zeros((max(steps, 1), beam, 2), np.int64)

    b_vals = np.zeros((beam, n_w), np.int64)
    b_vis = np.zeros((beam, n_words), np.uint64)
    b_cost = np.zeros(beam, np.int64)
    b_hvis = np.zeros(beam, np.uint64)
    b_vals[0] = vals0
    b_vis[0] = vis0
    for m in range(n_par):
        if (vis0[m >> 6] >> np.uint64(m & 63)) & np.uint64(1):
            b_hvis[0] ^= zob_par[m]
    n_beam = 1

    cap = CANDIDATE_CAPACITY
    c_parent = np.zeros(cap, np.int64)
    c_cost = np.zeros(cap, np.int64)
    c_n = np.zeros(cap, np.int64)
    c_moves = np.zeros((cap, dmax, 2), np.int64)
    c_rot = np.zeros((cap, 2), np.int64)
    c_hash = np.zeros(cap, np.uint64)
    c_vals = np.zeros((cap, n_w), np.int64)
    stack = np.zeros(dmax, np.int64)
    cur = np.zeros(n_w, np.int64)
    n_moves = moves.shape[0]

    for step in range(steps):
        n_c = 0
        for b in range(n_beam):
            vis = b_vis[b]
            dstar = -1
            for d in range(1, dmax + 1):
                if dstar >= 0 and d > dstar + extra:
                    break
                if dstar < 0 and d > maxd:
                    break
                found = 0
                # depth-first enumeration of CNOT sequences of exactly length d; a move at the
                # top of the stack is applied, and undone before the next one is tried
                cur[:] = b_vals[b]
                depth = 0
                stack[0] = -1
                while depth >= 0:
                    if stack[depth] >= 0:
                        cur[moves[stack[depth], 1]] ^= cur[moves[stack[depth], 0]]
                    stack[depth] += 1
                    mv = stack[depth]
                    if mv >= n_moves:
                        depth -= 1
                        continue
                    a, bb = moves[mv, 0], moves[mv, 1]
                    skip = cur[a] == 0
                    if depth > 0:
                        prev = stack[depth - 1]
                        # the same CNOT twice cancels; of two commuting CNOTs keep one order
                        if prev == mv or (prev > mv and _commutes(moves, prev, mv)):
                            skip = True
                    cur[bb] ^= cur[a]
                    if skip:
                        continue
                    h, m = _is_hit(cur, tbit, vis, False)
                    if depth == d - 1:
                        if h >= 0 and n_c < cap and found < PER_STATE_CAP:
                            c_parent[n_c] = b
                            c_cost[n_c] = b_cost[b] + d
                            c_n[n_c] = d
                            for i in range(d):
                                c_moves[n_c, i, 0] = moves[stack[i], 0]
                                c_moves[n_c, i, 1] = moves[stack[i], 1]
                            c_rot[n_c, 0] = h
                            c_rot[n_c, 1] = m
                            hv = b_hvis[b] ^ zob_par[m]
                            for w in range(n_w):
                                hv ^= zob_val[w, cur[w]]
                            c_hash[n_c] = hv
                            c_vals[n_c] = cur
                            n_c += 1
                            found += 1
                        continue
                    if h >= 0:
                        continue  # a shorter sequence already reaches this parity
                    depth += 1
                    stack[depth] = -1
                if found and dstar < 0:
                    dstar = d
        if n_c == 0:
            return step, hist_parent, hist_n, hist_moves, hist_rot, b_vals[:n_beam].copy(), b_vis[:n_beam].copy()
        # look-ahead only breaks ties among the cheapest: skip it where the cost alone excludes
        threshold = np.sort(c_cost[:n_c])[min(beam, n_c) - 1]
        keys = np.empty(n_c, np.float64)
        for c in range(n_c):
            look = 0
            if c_cost[c] <= threshold:
                look = _lookahead(c_vals[c], moves, tbit, b_vis[c_parent[c]], c_rot[c, 1])
            rng = _xorshift(rng)
            keys[c] = c_cost[c] * 1e6 - look * 1e3 + float(rng % np.uint64(1000))
        order = np.argsort(keys)
        new_vals = np.zeros((beam, n_w), np.int64)
        new_vis = np.zeros((beam, n_words), np.uint64)
        new_cost = np.zeros(beam, np.int64)
        new_hvis = np.zeros(beam, np.uint64)
        kept_hash = np.zeros(beam, np.uint64)
        kept = 0
        for idx in range(n_c):
            c = order[idx]
            dup = False
            for j in range(kept):
                if kept_hash[j] == c_hash[c]:
                    dup = True
                    break
            if dup:
                continue
            p = c_parent[c]
            m = c_rot[c, 1]
            kept_hash[kept] = c_hash[c]
            new_vals[kept] = c_vals[c]
            new_vis[kept] = b_vis[p]
            new_vis[kept, m >> 6] |= np.uint64(1) << np.uint64(m & 63)
            new_hvis[kept] = b_hvis[p] ^ zob_par[m]
            new_cost[kept] = c_cost[c]
            hist_parent[step, kept] = p
            hist_n[step, kept] = c_n[c]
            hist_moves[step, kept] = c_moves[c]
            hist_rot[step, kept, 0] = c_rot[c, 0]
            hist_rot[step, kept, 1] = m
            kept += 1
            if kept == beam:
                break
        b_vals[:kept] = new_vals[:kept]
        b_vis[:kept] = new_vis[:kept]
        b_cost[:kept] = new_cost[:kept]
        b_hvis[:kept] = new_hvis[:kept]
        n_beam = kept
    return steps, hist_parent, hist_n, hist_moves, hist_rot, b_vals[:n_beam].copy(), b_vis[:n_beam].copy()
