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

The sequences of one length are enumerated depth first, in move order. The enumeration skips
only what cannot add a candidate, so the candidates and their order are those of trying every
sequence: a move that neither moves the target bit nor writes its one holder leaves the state
allowing no rotation, as before it (``_after_move``); the last move can only be one writing that
holder, or one between two holders (``_last_moves``); with two moves left, a first move far from
the holder changes nothing the last could use when no single move could (``_last_two_moves``);
a state whose holders cannot become one in the moves left, or from which the moves left reach no
parity not yet rotated (``_reach``, with up to ``REACH_MOVES`` left), is not extended; and the
enumeration stops once nothing more could be kept (``PER_STATE_CAP``, ``CANDIDATE_CAPACITY``).
A beam state that itself allows a rotation (none does: each has just rotated its parity) would
take the plain enumeration.
"""

from __future__ import annotations

import numpy as np
from numba import njit

CANDIDATE_CAPACITY = 1 << 15
PER_STATE_CAP = 512  # candidates kept per beam state and step (the first found, shortest first)
REACH_MOVES = 3  # with this many moves left or fewer, states that reach no new parity are cut


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
def _unrotated(m, tbit, vis):
    """Whether a holder value ``m ^ tbit`` allows a rotation: ``m`` a parity of earlier levels
    only (the wire holds no later level's qubit), not yet rotated."""
    return 0 <= m < tbit and not (vis[m >> 6] >> np.uint64(m & 63)) & np.uint64(1)


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
def _lookahead(vals, moves, touch_ptr, touch, h, tbit, vis, m_new):
    """How many single CNOTs from ``vals`` (which rotates ``m_new`` on its one holder ``h``)
    reach a parity outside ``vis`` + ``m_new``. A CNOT that neither reads the target bit nor
    writes wire ``h`` leaves that rotation as it is (not counted): only the moves touching ``h``
    are tried."""
    count = 0
    for t in range(touch_ptr[h], touch_ptr[h + 1]):
        i = touch[t]
        a, b = moves[i, 0], moves[i, 1]
        if vals[a] == 0:
            continue
        vals[b] ^= vals[a]
        hh, m = _is_hit(vals, tbit, vis, False)
        if hh >= 0 and m != m_new:
            count += 1
        vals[b] ^= vals[a]
    return count


@njit(cache=True)
def _commutes(moves, i, j):
    """CNOT(a -> b) and CNOT(c -> d) commute unless one's target is the other's control."""
    return moves[i, 1] != moves[j, 0] and moves[i, 0] != moves[j, 1]


@njit(cache=True)
def _csr(lists, n_w):
    ptr = np.zeros(n_w + 1, np.int64)
    for w in range(n_w):
        ptr[w + 1] = ptr[w] + len(lists[w])
    out = np.empty(max(ptr[n_w], 1), np.int64)
    for w in range(n_w):
        for j in range(len(lists[w])):
            out[ptr[w] + j] = lists[w][j]
    return ptr, out


@njit(cache=True)
def _move_tables(moves, n_w):
    """Per wire w, move indices ascending (CSR pairs): the moves writing w; the moves reading or
    writing w; the moves reading w or writing w or a wire that can write w."""
    n_moves = moves.shape[0]
    writes = [[np.int64(0) for _ in range(0)] for _ in range(n_w)]
    touches = [[np.int64(0) for _ in range(0)] for _ in range(n_w)]
    near = np.zeros((n_w, n_w), np.bool_)
    for w in range(n_w):
        near[w, w] = True
    for i in range(n_moves):
        a, b = moves[i, 0], moves[i, 1]
        writes[b].append(i)
        touches[a].append(i)
        if b != a:
            touches[b].append(i)
        near[b, a] = True
    close = [[np.int64(0) for _ in range(0)] for _ in range(n_w)]
    for h in range(n_w):
        for i in range(n_moves):
            if moves[i, 0] == h or near[h, moves[i, 1]]:
                close[h].append(i)
    in_ptr, into = _csr(writes, n_w)
    touch_ptr, touch = _csr(touches, n_w)
    near_ptr, near_moves = _csr(close, n_w)
    return in_ptr, into, touch_ptr, touch, near_ptr, near_moves


@njit(cache=True)
def _reach_sets(moves, n_w, in_ptr, into, size):
    """Per wire h (CSR): the bitmasks of the wire sets that contain h and lie in a connected set
    of at most ``size`` wires that contains h, each with the size of the smallest such set."""
    ptr = np.zeros(n_w + 1, np.int64)
    masks = []
    sizes = []
    for h in range(n_w):
        best = dict()
        level = [np.int64(1) << h]
        seen = set(level)
        for c in range(1, size + 1):
            grown_level = []
            for mask in level:
                sub = mask  # every subset of this connected set that keeps h
                while True:
                    if (sub >> h) & 1 and (sub not in best or best[sub] > c):
                        best[sub] = c
                    if sub == 0:
                        break
                    sub = (sub - 1) & mask
                if c == size:
                    continue
                for w in range(n_w):
                    if (mask >> w) & 1:
                        for t in range(in_ptr[w], in_ptr[w + 1]):
                            grown = mask | (np.int64(1) << moves[into[t], 0])
                            if grown != mask and grown not in seen:
                                seen.add(grown)
                                grown_level.append(grown)
            level = grown_level
            if len(level) == 0:
                break
        for mask, c in best.items():
            masks.append(mask)
            sizes.append(c)
        ptr[h + 1] = len(masks)
    out_masks = np.empty(max(len(masks), 1), np.int64)
    out_sizes = np.empty(max(len(masks), 1), np.int64)
    for i in range(len(masks)):
        out_masks[i] = masks[i]
        out_sizes[i] = sizes[i]
    return ptr, out_masks, out_sizes


@njit(cache=True)
def _reach(cur, h, moves_left, sets, tbit, vis):
    """Whether ``moves_left`` more CNOTs could allow a rotation from a state whose one holder
    of the target bit is wire ``h`` (and which allows none itself). Each CNOT adds one wire's
    value into another, so the wire f that ends holding the bit ends with a sum of today's values
    of the wires that can feed f through those CNOTs: with f, at most ``moves_left`` + 1 wires,
    connected along couplers. The sum holds the bit, so h is in it: the parities reachable are
    among the sums over the sets ``_reach_sets`` lists. False: nothing below this state counts."""
    sets_ptr, sets_mask, sets_size = sets
    for i in range(sets_ptr[h], sets_ptr[h + 1]):
        if sets_size[i] - 1 > moves_left:
            continue
        value = np.int64(0)
        rest = sets_mask[i]
        w = 0
        while rest:
            if rest & 1:
                value ^= cur[w]
            rest >>= 1
            w += 1
        if _unrotated(value ^ tbit, tbit, vis):
            return True
    return False


@njit(cache=True)
def _after_move(cur, va, vb, bb, hc, holder, tbit, vis):
    """Holders of the target bit after a CNOT into ``bb`` (``cur`` updated; ``va``, ``vb`` the
    values of its control and target before) from a state with ``hc`` holders (``holder`` the one,
    or -1) that allows no rotation: (holder count, the one holder or -1, allows a rotation). A
    CNOT that neither moves the bit nor writes the holder leaves all three as they were."""
    nhc = hc
    nh = holder
    if va & tbit:
        nhc += -1 if vb & tbit else 1
        nh = -1
        if nhc == 1:
            nh = _holder(cur, tbit)
    elif bb != holder:
        return nhc, nh, False
    if nh >= 0:
        return nhc, nh, _unrotated(cur[nh] ^ tbit, tbit, vis)
    return nhc, nh, False


@njit(cache=True)
def _record(n_c, b, d, stack, moves, h, m, cur, cand, beams):
    """Store candidate ``n_c``: beam state ``b`` extended by the moves ``stack[:d]``, rotating
    parity ``m`` on wire ``h``, ending in ``cur``."""
    c_parent, c_cost, c_n, c_moves, c_rot, c_hash, c_vals = cand
    b_cost, b_hvis, zob_par, zob_val = beams
    c_parent[n_c] = b
    c_cost[n_c] = b_cost[b] + d
    c_n[n_c] = d
    for i in range(d):
        c_moves[n_c, i, 0] = moves[stack[i], 0]
        c_moves[n_c, i, 1] = moves[stack[i], 1]
    c_rot[n_c, 0] = h
    c_rot[n_c, 1] = m
    hv = b_hvis[b] ^ zob_par[m]
    for w in range(cur.shape[0]):
        hv ^= zob_val[w, cur[w]]
    c_hash[n_c] = hv
    c_vals[n_c] = cur


@njit(cache=True)
def _last_moves(cur, moves, depth, stack, hc, holder, tables, tbit, vis, b, d, n_c, found, cand, beams):
    """The last move of the enumeration from a state that allows no rotation, in move order:
    with one holder of the target bit only a move writing it can reach a parity (a move reading
    it makes two holders); with two, only a move between them; with more, none. Each is skipped
    exactly as the plain enumeration would. Returns the updated (n_c, found)."""
    in_ptr, into, touch_ptr, touch = tables[0], tables[1], tables[2], tables[3]
    cap = cand[0].shape[0]
    prev = stack[depth - 1] if depth > 0 else -1
    h1 = holder
    h2 = -1
    if hc == 2:
        h1 = -1
        for w in range(cur.shape[0]):
            if cur[w] & tbit:
                if h1 < 0:
                    h1 = w
                else:
                    h2 = w
    elif hc != 1:
        return n_c, found
    lo = in_ptr[h1] if hc == 1 else touch_ptr[h1]
    hi = in_ptr[h1 + 1] if hc == 1 else touch_ptr[h1 + 1]
    for t in range(lo, hi):
        mv = into[t] if hc == 1 else touch[t]
        a, bb = moves[mv, 0], moves[mv, 1]
        if hc == 2 and not ((a == h1 and bb == h2) or (a == h2 and bb == h1)):
            continue
        if cur[a] == 0:
            continue
        if depth > 0 and (prev == mv or (prev > mv and _commutes(moves, prev, mv))):
            continue
        # the one holder after it: the wire written (one holder before), or the one read (two
        # before: the written one loses the bit); what ``_is_hit`` would find
        h = bb if hc == 1 else a
        m = (cur[h] ^ cur[a] if hc == 1 else cur[h]) ^ tbit
        if not _unrotated(m, tbit, vis) or n_c >= cap or found >= PER_STATE_CAP:
            continue
        cur[bb] ^= cur[a]
        stack[depth] = mv
        _record(n_c, b, d, stack, moves, h, m, cur, cand, beams)
        cur[bb] ^= cur[a]
        n_c += 1
        found += 1
    return n_c, found


@njit(cache=True)
def _last_two_moves(cur, moves, depth, stack, hc, holder, tables, tbit, vis, b, d, n_c, found, cand, beams):
    """The last two moves of the enumeration from a state that allows no rotation, in move order,
    as the plain enumeration takes them (``_last_moves`` for the second). With one holder h and
    no single move into h reaching a parity, a first move that neither reads h nor writes h or a
    wire that can write h leaves every move into h as it was: only the others are tried."""
    in_ptr, into, near_ptr, near = tables[0], tables[1], tables[4], tables[5]
    cap = cand[0].shape[0]
    prev = stack[depth - 1] if depth > 0 else -1
    restricted = False
    if hc == 1:
        restricted = True
        vh = cur[holder] ^ tbit
        for t in range(in_ptr[holder], in_ptr[holder + 1]):
            if _unrotated(vh ^ cur[moves[into[t], 0]], tbit, vis):
                restricted = False
                break
    lo = near_ptr[holder] if restricted else 0
    hi = near_ptr[holder + 1] if restricted else moves.shape[0]
    for t in range(lo, hi):
        if n_c >= cap or found >= PER_STATE_CAP:
            break
        mv = near[t] if restricted else t
        a, bb = moves[mv, 0], moves[mv, 1]
        if cur[a] == 0:
            continue
        if depth > 0 and (prev == mv or (prev > mv and _commutes(moves, prev, mv))):
            continue
        va = cur[a]
        vb = cur[bb]
        cur[bb] = vb ^ va
        nhc, nh, hit = _after_move(cur, va, vb, bb, hc, holder, tbit, vis)
        if not hit and nhc <= 2:
            stack[depth] = mv
            n_c, found = _last_moves(
                cur, moves, depth + 1, stack, nhc, nh, tables, tbit, vis, b, d, n_c, found, cand, beams
            )
        cur[bb] = vb
    return n_c, found


@njit(cache=True)
def beam_walk(vals0, vis0, moves, k, beam, extra, maxd, seed, shortcuts=True):
    """Walk from ``vals0`` with the parities in ``vis0`` already rotated.

    Returns (done, history, beam): ``done`` is the number of steps completed (each step reaches
    one new parity); the history holds, per step and kept state, its parent, CNOT count, CNOTs
    and rotation (wire, parity); the beam after the last completed step is sorted best first
    (values, rotated set, cost). A step with no new parity within ``maxd`` CNOTs ends the search
    early (``passes.parity_walk`` then takes one constructive step and resumes).
    ``shortcuts=False`` enumerates every sequence (the same result, slower: for the tests)."""
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
    cand = (c_parent, c_cost, c_n, c_moves, c_rot, c_hash, c_vals)
    beams = (b_cost, b_hvis, zob_par, zob_val)
    stack = np.zeros(dmax, np.int64)
    cur = np.zeros(n_w, np.int64)
    n_moves = moves.shape[0]
    tables = _move_tables(moves, n_w)
    sets = _reach_sets(moves, n_w, tables[0], tables[1], REACH_MOVES + 1)
    hcs = np.zeros(dmax + 1, np.int64)  # per depth: how many wires hold the target bit
    hold = np.zeros(dmax + 1, np.int64)  # per depth: the one holder, or -1

    for step in range(steps):
        n_c = 0
        for b in range(n_beam):
            if n_c >= cap:
                break  # no room for another candidate this step
            vis = b_vis[b]
            cur[:] = b_vals[b]
            root_h, _ = _is_hit(cur, tbit, vis, False)
            plain = root_h >= 0 or not shortcuts  # the shortcuts assume the state allows no rotation
            hc0 = 0
            for w in range(n_w):
                if cur[w] & tbit:
                    hc0 += 1
            hold0 = _holder(cur, tbit)
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
                hcs[0] = hc0
                hold[0] = hold0
                while depth >= 0:
                    if n_c >= cap or found >= PER_STATE_CAP:
                        break  # nothing found from here on could be kept
                    if not plain and stack[depth] < 0 and d - depth <= 2:
                        # a fresh slot for the last one or two moves
                        if d - depth == 2 and hcs[depth] == 1 and not _reach(cur, hold[depth], 2, sets, tbit, vis):
                            depth -= 1
                            continue
                        args = (cur, moves, depth, stack, hcs[depth], hold[depth], tables, tbit, vis, b, d)
                        if d - depth == 1:
                            n_c, found = _last_moves(*args, n_c, found, cand, beams)
                        else:
                            n_c, found = _last_two_moves(*args, n_c, found, cand, beams)
                        depth -= 1
                        continue
                    if stack[depth] >= 0:
                        cur[moves[stack[depth], 1]] ^= cur[moves[stack[depth], 0]]
                    elif not plain and d - depth <= REACH_MOVES and hcs[depth] == 1:
                        if not _reach(cur, hold[depth], d - depth, sets, tbit, vis):
                            depth -= 1  # the moves left reach no parity not yet rotated
                            continue
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
                    va = cur[a]
                    vb = cur[bb]
                    cur[bb] = vb ^ va
                    if skip:
                        continue
                    if plain:
                        h, m = _is_hit(cur, tbit, vis, False)
                        if depth == d - 1:
                            if h >= 0 and n_c < cap and found < PER_STATE_CAP:
                                _record(n_c, b, d, stack, moves, h, m, cur, cand, beams)
                                n_c += 1
                                found += 1
                            continue
                        if h >= 0:
                            continue  # a shorter sequence already reaches this parity
                        depth += 1
                        stack[depth] = -1
                        continue
                    nhc, nh, hit = _after_move(cur, va, vb, bb, hcs[depth], hold[depth], tbit, vis)
                    if hit:
                        continue  # a shorter sequence already reaches this parity
                    if nhc - 1 > d - 1 - depth:
                        continue  # a move changes one wire: the holders cannot become one in time
                    depth += 1
                    stack[depth] = -1
                    hcs[depth] = nhc
                    hold[depth] = nh
                if found and dstar < 0:
                    dstar = d
                if n_c >= cap:
                    break
        if n_c == 0:
            return step, hist_parent, hist_n, hist_moves, hist_rot, b_vals[:n_beam].copy(), b_vis[:n_beam].copy()
        # look-ahead only breaks ties among the cheapest: skip it where the cost alone excludes
        threshold = np.sort(c_cost[:n_c])[min(beam, n_c) - 1]
        keys = np.empty(n_c, np.float64)
        for c in range(n_c):
            look = 0
            if c_cost[c] <= threshold:
                look = _lookahead(
                    c_vals[c], moves, tables[2], tables[3], c_rot[c, 0], tbit, b_vis[c_parent[c]], c_rot[c, 1]
                )
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
