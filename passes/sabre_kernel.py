"""The SABRE routing loop, compiled with numba (the hot loop of layout and routing).

Inputs are flat arrays (see ``passes.sabre.FlatCircuit`` and ``targets.coupling.CouplingData``);
the output is an event list that ``passes.sabre`` replays into a circuit: ``e >= 0`` emits
operation ``e`` on the current layout, ``e < 0`` is SWAP(u, v) with ``-e - 1 = u * n_phys + v``.
Only the winning trial is ever replayed, so the many layout iterations and trials never build
Python objects.

Besides SWAPs and their error cost the kernel counts SWAPs that sit right next to a CNOT on the
same pair (nothing else on either qubit in between): ``expand_swaps`` plus cancellation turn
such a pair into 2 CNOTs instead of 4, so trials are compared by the two-qubit count they will
really have.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# op_kind codes (``passes.sabre.FlatCircuit``)
KIND_OTHER, KIND_CX, KIND_Z, KIND_X = 0, 1, 2, 3


@njit(cache=True)
def _emit(events, n_ev, value):
    if n_ev == len(events):
        grown = np.empty(2 * len(events), np.int64)
        grown[:n_ev] = events
        events = grown
    events[n_ev] = value
    return events, n_ev + 1


@njit(cache=True)
def _swap_layout(u, v, l2p, p2l):
    lu, lv = p2l[u], p2l[v]
    p2l[u], p2l[v] = lv, lu
    if lu >= 0:
        l2p[lu] = v
    if lv >= 0:
        l2p[lv] = u


@njit(cache=True)
def _distance_after_swap(ops, count, u, v, l2p, op_ptr, op_q, dist):
    """Sum of distances between the physical qubits of ``ops[:count]`` once SWAP(u, v) is applied."""
    total = 0.0
    for k in range(count):
        i = ops[k]
        a = l2p[op_q[op_ptr[i]]]
        b = l2p[op_q[op_ptr[i] + 1]]
        a = v if a == u else (u if a == v else a)
        b = v if b == u else (u if b == v else b)
        total += dist[a, b]
    return total


# Mersenne Twister, as numba's ``np.random`` runs it (numba/_random.c and randomimpl.py): a
# trial's state is 624 words and the position of the next one (index 624: regenerate first)
MT_N, MT_M = 624, 397


@njit(cache=True)
def mt_seeded(seed):
    """The state ``np.random.seed(seed)`` sets (``numba_rnd_init``, the seed taken mod 2**32)."""
    state = np.empty(MT_N + 1, np.int64)
    x = seed & 0xFFFFFFFF
    for pos in range(MT_N):
        state[pos] = x
        x = (1812433253 * (x ^ (x >> 30)) + pos + 1) & 0xFFFFFFFF
    state[MT_N] = MT_N
    return state


@njit(cache=True)
def _mt_regenerate(state):
    """The next 624 words (``numba_rnd_shuffle``)."""
    for i in range(MT_N):
        y = (state[i] & 0x80000000) | (state[(i + 1) % MT_N] & 0x7FFFFFFF)
        state[i] = state[(i + MT_M) % MT_N] ^ (y >> 1) ^ (0x9908B0DF if y & 1 else 0)
    state[MT_N] = 0


@njit(cache=True)
def mt_primed(state):
    """``state`` with its words regenerated if its next draw would do it: the same stream from
    there on, and a primed state can be copied to many trials without each redoing the work."""
    out = state.copy()
    if out[MT_N] >= MT_N:
        _mt_regenerate(out)
    return out


@njit(cache=True)
def mt_randint(state, n):
    """``np.random.randint(0, n)`` of numba on this state: n == 1 draws nothing; otherwise
    tempered 32-bit words masked to the bit length of n - 1, until one is below n."""
    if n == 1:
        return 0
    mask = 1
    while mask < n - 1:
        mask = (mask << 1) | 1
    while True:
        if state[MT_N] >= MT_N:
            _mt_regenerate(state)
        y = state[state[MT_N]]
        state[MT_N] += 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9D2C5680
        y ^= (y << 15) & 0xEFC60000
        y ^= y >> 18
        r = y & mask
        if r < n:
            return r


@njit(cache=True)
def build_dag(op_ptr, op_q, seg_ptr, n_log):
    """Each op's number of distinct predecessors and its successors (CSR: ``succ[starts[i]:
    starts[i + 1]]``), per segment (no edge crosses a boundary). Built once per call of
    ``route_trials``: the DAG depends only on the circuit, and every trial consumes a copy of
    ``indeg``. Successor order is the order of a scan over ops and their qubits, the order the
    router visits them in."""
    n_ops = len(op_ptr) - 1
    indeg = np.zeros(n_ops, np.int64)
    preds = np.full(len(op_q), -1, np.int64)
    outdeg = np.zeros(n_ops, np.int64)
    last = np.full(n_log, -1, np.int64)
    for s in range(len(seg_ptr) - 1):
        last[:] = -1
        for i in range(seg_ptr[s], seg_ptr[s + 1]):
            for k in range(op_ptr[i], op_ptr[i + 1]):
                p = last[op_q[k]]
                dup = p < 0
                for k2 in range(op_ptr[i], k):
                    if preds[k2] == p:
                        dup = True
                if not dup:
                    preds[k] = p
                    indeg[i] += 1
                    outdeg[p] += 1
            for k in range(op_ptr[i], op_ptr[i + 1]):
                last[op_q[k]] = i
    starts = np.zeros(n_ops + 1, np.int64)
    for i in range(n_ops):
        starts[i + 1] = starts[i] + outdeg[i]
    succ = np.empty(starts[n_ops], np.int64)
    fill = starts[:-1].copy()
    for i in range(n_ops):
        for k in range(op_ptr[i], op_ptr[i + 1]):
            p = preds[k]
            if p >= 0:
                succ[fill[p]] = i
                fill[p] += 1
    return indeg, succ, starts


@njit(cache=True)
def _scratch(n_ops, n_phys):
    """Stamp arrays shared by the trials of one call, and the stamps (candidate, look-ahead).
    A trial only compares entries with the current stamp, which only grows, so entries left by
    earlier trials never match: no trial needs them cleared (an n_phys x n_phys clear per trial
    cost about as much as a small routing)."""
    return (
        np.zeros((n_phys, n_phys), np.int64),
        np.zeros(n_ops, np.int64),
        np.zeros(n_ops, np.int64),
        np.zeros(n_ops, np.int64),
        np.zeros(2, np.int64),
    )


# a trial's scalar state (``_advance``): segment, front size, events, SWAPs, merged SWAPs, SWAPs
# since progress, SWAPs since the last decay reset, tied best SWAPs
S_SEG, S_FRONT, S_EV, S_SWAPS, S_MERGED, S_SINCE, S_RESET, S_TIES = range(8)


@njit(cache=True)
def _start(layout, n_phys, n_ops, indeg):
    """A trial's state before its first segment: layout both ways, events, per-qubit merge
    state, decay, the front, the op in-degrees (consumed), scalars, SWAP cost, tied SWAPs."""
    l2p = layout.copy()
    p2l = np.full(n_phys, -1, np.int64)
    for lq in range(len(layout)):
        p2l[l2p[lq]] = lq
    sc = np.zeros(8, np.int64)
    sc[S_SEG] = -1
    return (
        l2p,
        p2l,
        np.empty(max(16, 2 * n_ops), np.int64),
        np.full(n_phys, -1, np.int64),  # partner: last op on p was a CNOT with this qubit
        np.full(n_phys, -1, np.int64),  # after_swap: last op on p was a SWAP with this qubit
        np.zeros(n_phys, np.bool_),  # is_control: p's partner CNOT has p as control
        np.ones(n_phys),  # decay
        np.empty(n_ops, np.int64),  # front
        indeg,
        sc,
        np.zeros(1),  # SWAP cost
    )


@njit(cache=True)
def _copy(state):
    """An independent copy of a trial state (a decision point several trials continue from)."""
    l2p, p2l, events, partner, after_swap, is_control, decay, front, indeg, sc, fsc = state
    return (
        l2p.copy(),
        p2l.copy(),
        events.copy(),
        partner.copy(),
        after_swap.copy(),
        is_control.copy(),
        decay.copy(),
        front.copy(),
        indeg.copy(),
        sc.copy(),
        fsc.copy(),
    )


@njit(cache=True)
def _advance(
    op_ptr,
    op_q,
    op_two,
    op_kind,
    seg_ptr,
    n_phys,
    nb_ptr,
    nb,
    dist,
    hops,
    cost,
    coupled,
    ext_weight,
    decay_step,
    decay_reset,
    swap_weight,
    succ,
    starts,
    scratch,
    work,
    state,
    u0,
    v0,
    solo,
):
    """The routing loop of one trial from ``state`` (first taking SWAP(u0, v0) if ``u0 >= 0``: the
    choice made at a tie) until the best SWAP is tied (returns 1, the tied SWAPs in ``work[7:9]``,
    in candidate order) or the circuit ends (returns 0); and the events array (it may have
    grown). Where one SWAP scores best it is taken without a draw: numba's ``randint(0, 1)``
    draws nothing, so a plain loop's random stream does not move there either. ``solo``: the
    random state of a group's only member, which draws at ties and runs on (the plain loop);
    empty for a group of several."""
    l2p, p2l, events, partner, after_swap, is_control, decay, front, indeg, sc, fsc = state
    new_front, ext, queue, cand_u, cand_v, scores, ties, ties_u, ties_v = work
    cand_stamp, seen, remaining, rem_stamp, stamps = scratch
    ext_size = len(ext)
    s, n_front, n_ev = sc[S_SEG], sc[S_FRONT], sc[S_EV]
    swaps, merged, since_progress, swaps_since_reset = sc[S_SWAPS], sc[S_MERGED], sc[S_SINCE], sc[S_RESET]
    swap_cost = fsc[0]
    stamp, bfs_stamp = stamps[0], stamps[1]
    n_seg = len(seg_ptr) - 1
    status = 0
    u, v = u0, v0
    while True:
        if u >= 0:
            # take SWAP(u, v)
            events, n_ev = _emit(events, n_ev, -(u * n_phys + v) - 1)
            _swap_layout(u, v, l2p, p2l)
            if partner[u] == v and partner[v] == u:
                merged += 1
                after_swap[u] = after_swap[v] = -1
            else:
                after_swap[u] = v
                after_swap[v] = u
            partner[u] = partner[v] = -1
            swaps += 1
            swap_cost += cost[u, v]
            since_progress += 1
            swaps_since_reset += 1
            decay[u] += decay_step
            decay[v] += decay_step
            if swaps_since_reset >= decay_reset:
                decay[:] = 1.0
                swaps_since_reset = 0
            u = -1
        if n_front == 0:
            # the next segment (an empty one has nothing to route)
            s += 1
            if s >= n_seg:
                break
            n_front = 0
            for i in range(seg_ptr[s], seg_ptr[s + 1]):
                if indeg[i] == 0:
                    front[n_front] = i
                    n_front += 1
            since_progress = 0
            swaps_since_reset = 0
            continue
        executed = True
        while executed:
            executed = False
            n_new = 0
            for f in range(n_front):
                i = front[f]
                if op_two[i]:
                    a = l2p[op_q[op_ptr[i]]]
                    b = l2p[op_q[op_ptr[i] + 1]]
                    if not coupled[a, b]:
                        new_front[n_new] = i
                        n_new += 1
                        continue
                    if op_kind[i] == KIND_CX:
                        if after_swap[a] == b and after_swap[b] == a:
                            merged += 1
                            partner[a] = -1
                            partner[b] = -1
                        else:
                            partner[a] = b
                            partner[b] = a
                            is_control[a] = True
                            is_control[b] = False
                        after_swap[a] = -1
                        after_swap[b] = -1
                    else:
                        partner[a] = partner[b] = after_swap[a] = after_swap[b] = -1
                else:
                    for k in range(op_ptr[i], op_ptr[i + 1]):
                        p = l2p[op_q[k]]
                        # Z-type gates pass a CNOT's control, X-type its target: the CNOT
                        # still meets a following SWAP once cancellation commutes them
                        keep = partner[p] >= 0 and (
                            (op_kind[i] == KIND_Z and is_control[p]) or (op_kind[i] == KIND_X and not is_control[p])
                        )
                        if not keep:
                            partner[p] = -1
                        after_swap[p] = -1
                events, n_ev = _emit(events, n_ev, i)
                executed = True
                for k in range(starts[i], starts[i + 1]):
                    j = succ[k]
                    indeg[j] -= 1
                    if indeg[j] == 0:
                        new_front[n_new] = j
                        n_new += 1
            for f in range(n_new):
                front[f] = new_front[f]
            n_front = n_new
            if executed:
                since_progress = 0
                decay[:] = 1.0
        if n_front == 0:
            continue

        if since_progress > 10 * max(1, n_front) + 20:
            # release valve: walk the closest front pair together along a shortest path
            best_i, best_h = front[0], np.inf
            for f in range(n_front):
                i = front[f]
                h = hops[l2p[op_q[op_ptr[i]]], l2p[op_q[op_ptr[i] + 1]]]
                if h < best_h:
                    best_i, best_h = i, h
            a = l2p[op_q[op_ptr[best_i]]]
            b = l2p[op_q[op_ptr[best_i] + 1]]
            cur = a
            while not coupled[cur, b]:
                nxt, nh = -1, np.inf
                for k in range(nb_ptr[cur], nb_ptr[cur + 1]):
                    q = nb[k]
                    if hops[q, b] < nh:
                        nxt, nh = q, hops[q, b]
                events, n_ev = _emit(events, n_ev, -(cur * n_phys + nxt) - 1)
                _swap_layout(cur, nxt, l2p, p2l)
                partner[cur] = partner[nxt] = after_swap[cur] = after_swap[nxt] = -1
                swaps += 1
                swap_cost += cost[cur, nxt]
                cur = nxt
            since_progress = 0
            continue

        # look-ahead: the next two-qubit ops after the front, breadth first
        bfs_stamp += 1
        n_ext, qh, qt = 0, 0, 0
        for f in range(n_front):
            seen[front[f]] = bfs_stamp
            queue[qt] = front[f]
            qt += 1
        while qh < qt and n_ext < ext_size:
            i = queue[qh]
            qh += 1
            for k in range(starts[i], starts[i + 1]):
                j = succ[k]
                if seen[j] == bfs_stamp:
                    continue
                if rem_stamp[j] != bfs_stamp:
                    rem_stamp[j] = bfs_stamp
                    remaining[j] = indeg[j]
                remaining[j] -= 1
                if remaining[j] <= 0:
                    seen[j] = bfs_stamp
                    queue[qt] = j
                    qt += 1
                    if op_two[j] and n_ext < ext_size:
                        ext[n_ext] = j
                        n_ext += 1

        # candidate SWAPs: every coupler touching a front qubit
        stamp += 1
        n_cand = 0
        for f in range(n_front):
            i = front[f]
            for side in range(2):
                p = l2p[op_q[op_ptr[i] + side]]
                for k in range(nb_ptr[p], nb_ptr[p + 1]):
                    q = nb[k]
                    a, b = min(p, q), max(p, q)
                    if cand_stamp[a, b] != stamp:
                        cand_stamp[a, b] = stamp
                        cand_u[n_cand] = a
                        cand_v[n_cand] = b
                        n_cand += 1
        best = np.inf
        for c in range(n_cand):
            a, b = cand_u[c], cand_v[c]
            score = _distance_after_swap(front, n_front, a, b, l2p, op_ptr, op_q, dist) / n_front
            if n_ext > 0:
                score += ext_weight * _distance_after_swap(ext, n_ext, a, b, l2p, op_ptr, op_q, dist) / n_ext
            score = score * max(decay[a], decay[b]) + swap_weight * cost[a, b]
            scores[c] = score
            if score < best:
                best = score
        n_ties = 0
        for c in range(n_cand):
            if scores[c] <= best + 1e-12:
                ties[n_ties] = c
                n_ties += 1
        if n_ties > 1 and len(solo):
            c = ties[mt_randint(solo, n_ties)]
            u, v = cand_u[c], cand_v[c]
            continue
        if n_ties > 1:
            for c in range(n_ties):
                ties_u[c] = cand_u[ties[c]]
                ties_v[c] = cand_v[ties[c]]
            sc[S_TIES] = n_ties
            status = 1
            break
        u, v = cand_u[ties[0]], cand_v[ties[0]]
    sc[S_SEG], sc[S_FRONT], sc[S_EV] = s, n_front, n_ev
    sc[S_SWAPS], sc[S_MERGED], sc[S_SINCE], sc[S_RESET] = swaps, merged, since_progress, swaps_since_reset
    fsc[0] = swap_cost
    stamps[0], stamps[1] = stamp, bfs_stamp
    return events, status


@njit(cache=True)
def route_trials(
    op_ptr,
    op_q,
    op_two,
    op_kind,
    seg_ptr,
    layout,
    n_phys,
    nb_ptr,
    nb,
    dist,
    hops,
    cost,
    coupled,
    seeds,
    states,
    ext_size,
    ext_weight,
    decay_step,
    decay_reset,
    swap_weight,
):
    """One SABRE trial per seed from ``layout``, in one call; events concatenated with offsets
    ``ev_ptr``. ``states``: each seed's random state (``mt_primed(mt_seeded(seed))``, as a
    caller that reuses the seeds keeps them), or empty to seed here.

    A trial's seed only matters where it draws among tied SWAPs (``_advance``); up to there it
    is a function of its state. So the trials run as a tree: a group of trials in one state
    runs once to the next tie, where each member draws its choice from its own random state
    (the draw its plain loop makes there) and the group splits by choice, each part continuing
    from a copy of the state with its SWAP taken. Every trial makes exactly its own draws in
    its own order and takes the same choices from the same states, so its result is the one it
    would have alone; trials that never split are computed once, and a group of one runs on
    as the plain loop. The DAG and the stamp scratch are built once for all trials."""
    t = len(seeds)
    n_ops = len(op_ptr) - 1
    indeg, succ, starts = build_dag(op_ptr, op_q, seg_ptr, len(layout))
    scratch = _scratch(n_ops, n_phys)
    work = (
        np.empty(n_ops, np.int64),  # next front
        np.empty(ext_size, np.int64),  # look-ahead ops
        np.empty(n_ops, np.int64),  # look-ahead queue
        np.empty(4 * n_phys, np.int64),  # candidate SWAPs (u)
        np.empty(4 * n_phys, np.int64),  # candidate SWAPs (v)
        np.empty(4 * n_phys),  # their scores
        np.empty(4 * n_phys, np.int64),  # the best-scoring ones
        np.empty(4 * n_phys, np.int64),  # tied SWAPs (u), read at once by ``route_trials``
        np.empty(4 * n_phys, np.int64),  # tied SWAPs (v)
    )
    rng = np.empty((t, MT_N + 1), np.int64)
    for i in range(t):
        rng[i] = states[i] if len(states) else mt_seeded(seeds[i])
    no_rng = np.empty(0, np.int64)
    pending = [(_start(layout, n_phys, n_ops, indeg), np.arange(t), -1, -1)]  # groups to run
    results = []
    trial_result = np.empty(t, np.int64)
    while len(pending) > 0:
        state, members, u0, v0 = pending.pop()
        events, status = _advance(
            op_ptr,
            op_q,
            op_two,
            op_kind,
            seg_ptr,
            n_phys,
            nb_ptr,
            nb,
            dist,
            hops,
            cost,
            coupled,
            ext_weight,
            decay_step,
            decay_reset,
            swap_weight,
            succ,
            starts,
            scratch,
            work,
            state,
            u0,
            v0,
            rng[members[0]] if len(members) == 1 else no_rng,
        )
        l2p, p2l, _, partner, after_swap, is_control, decay, front, deg, sc, fsc = state
        state = (l2p, p2l, events, partner, after_swap, is_control, decay, front, deg, sc, fsc)
        if status == 0:
            for m in members:
                trial_result[m] = len(results)
            results.append((events[: sc[S_EV]], l2p, sc[S_SWAPS], fsc[0], sc[S_MERGED]))
            continue
        n_ties = sc[S_TIES]
        choice = np.empty(len(members), np.int64)
        for k in range(len(members)):
            choice[k] = mt_randint(rng[members[k]], n_ties)
        taken = np.zeros(n_ties, np.bool_)
        for k in range(len(members)):
            taken[choice[k]] = True
        last = n_ties - 1
        while not taken[last]:
            last -= 1
        for c in range(n_ties):
            if taken[c]:
                # the last part continues in the group's own state
                part = state if c == last else _copy(state)
                pending.append((part, members[choice == c], work[7][c], work[8][c]))
    ev_ptr = np.zeros(t + 1, np.int64)
    for i in range(t):
        ev_ptr[i + 1] = ev_ptr[i] + len(results[trial_result[i]][0])
    events = np.empty(ev_ptr[t], np.int64)
    l2p = np.empty((t, len(layout)), np.int64)
    swaps = np.empty(t, np.int64)
    swap_cost = np.empty(t, np.float64)
    merged = np.empty(t, np.int64)
    for i in range(t):
        ev, lp, s, c, m = results[trial_result[i]]
        events[ev_ptr[i] : ev_ptr[i + 1]] = ev
        l2p[i] = lp
        swaps[i], swap_cost[i], merged[i] = s, c, m
    return events, ev_ptr, l2p, swaps, swap_cost, merged
