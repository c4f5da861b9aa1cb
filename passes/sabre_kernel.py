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


@njit(cache=True)
def route_kernel(
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
    seed,
    ext_size,
    ext_weight,
    decay_step,
    decay_reset,
    swap_weight,
    indeg,
    succ,
    starts,
    scratch,
):
    """One trial: events, final layout, SWAPs, their error cost, merged SWAPs, and whether the
    seed chose anything (a draw among tied SWAPs). ``indeg`` (a fresh copy of ``build_dag``'s)
    is consumed; ``scratch`` is ``_scratch``'s, shared across the trials of one call."""
    np.random.seed(seed)
    n_ops = len(op_ptr) - 1
    n_log = len(layout)
    l2p = layout.copy()
    p2l = np.full(n_phys, -1, np.int64)
    for lq in range(n_log):
        p2l[l2p[lq]] = lq
    events = np.empty(max(16, 2 * n_ops), np.int64)
    n_ev = 0
    swaps = 0
    swap_cost = 0.0
    merged = 0
    partner = np.full(n_phys, -1, np.int64)  # last op on p was a CNOT with this qubit
    after_swap = np.full(n_phys, -1, np.int64)  # last op on p was a SWAP with this qubit
    is_control = np.zeros(n_phys, np.bool_)  # p's partner CNOT has p as control
    decay = np.ones(n_phys)
    tied = False  # a SWAP was drawn among equal scores: the only place the seed matters
    cand_stamp, seen, remaining, rem_stamp, stamps = scratch
    stamp = stamps[0]
    bfs_stamp = stamps[1]
    front = np.empty(n_ops, np.int64)
    new_front = np.empty(n_ops, np.int64)
    ext = np.empty(ext_size, np.int64)
    queue = np.empty(n_ops, np.int64)
    cand_u = np.empty(4 * n_phys, np.int64)
    cand_v = np.empty(4 * n_phys, np.int64)
    scores = np.empty(4 * n_phys)
    ties = np.empty(4 * n_phys, np.int64)

    for s in range(len(seg_ptr) - 1):
        lo, hi = seg_ptr[s], seg_ptr[s + 1]
        if hi == lo:
            continue
        n_front = 0
        for i in range(lo, hi):
            if indeg[i] == 0:
                front[n_front] = i
                n_front += 1
        since_progress = 0
        swaps_since_reset = 0
        while n_front > 0:
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
                break

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
                        u, v = min(p, q), max(p, q)
                        if cand_stamp[u, v] != stamp:
                            cand_stamp[u, v] = stamp
                            cand_u[n_cand] = u
                            cand_v[n_cand] = v
                            n_cand += 1
            best = np.inf
            for c in range(n_cand):
                u, v = cand_u[c], cand_v[c]
                score = _distance_after_swap(front, n_front, u, v, l2p, op_ptr, op_q, dist) / n_front
                if n_ext > 0:
                    score += ext_weight * _distance_after_swap(ext, n_ext, u, v, l2p, op_ptr, op_q, dist) / n_ext
                score = score * max(decay[u], decay[v]) + swap_weight * cost[u, v]
                scores[c] = score
                if score < best:
                    best = score
            n_ties = 0
            for c in range(n_cand):
                if scores[c] <= best + 1e-12:
                    ties[n_ties] = c
                    n_ties += 1
            if n_ties > 1:
                tied = True
            c = ties[np.random.randint(0, n_ties)]
            u, v = cand_u[c], cand_v[c]
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
    stamps[0] = stamp
    stamps[1] = bfs_stamp
    return events[:n_ev], l2p, swaps, swap_cost, merged, tied


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
    ext_size,
    ext_weight,
    decay_step,
    decay_reset,
    swap_weight,
):
    """``route_kernel`` once per seed in one call (a trial is tens of microseconds: the Python
    call around each cost as much), the DAG built and the scratch allocated once for all of
    them; events concatenated with offsets ``ev_ptr``."""
    t = len(seeds)
    indeg, succ, starts = build_dag(op_ptr, op_q, seg_ptr, len(layout))
    scratch = _scratch(len(op_ptr) - 1, n_phys)
    results = []
    for i in range(t):
        if i > 0 and not results[0][5]:
            # the first trial never drew among ties, so its seed chose nothing: every trial
            # makes the same choices from the same state (``randint(0, 1)`` is always 0)
            results.append(results[0])
            continue
        results.append(
            route_kernel(
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
                seeds[i],
                ext_size,
                ext_weight,
                decay_step,
                decay_reset,
                swap_weight,
                indeg.copy(),
                succ,
                starts,
                scratch,
            )
        )
    ev_ptr = np.zeros(t + 1, np.int64)
    for i in range(t):
        ev_ptr[i + 1] = ev_ptr[i] + len(results[i][0])
    events = np.empty(ev_ptr[t], np.int64)
    l2p = np.empty((t, len(layout)), np.int64)
    swaps = np.empty(t, np.int64)
    swap_cost = np.empty(t, np.float64)
    merged = np.empty(t, np.int64)
    for i in range(t):
        ev, lp, s, c, m, _ = results[i]
        events[ev_ptr[i] : ev_ptr[i + 1]] = ev
        l2p[i] = lp
        swaps[i], swap_cost[i], merged[i] = s, c, m
    return events, ev_ptr, l2p, swaps, swap_cost, merged
