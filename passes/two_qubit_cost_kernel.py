"""Compiled core of ``two_qubit_cost``: SWAP expansion and commutation-aware cancellation on
integer arrays, counting (and error-weighting) the two-qubit gates that survive.

It follows ``expand_swaps.expand_swaps`` and ``cancel.cancel_and_merge`` rule for rule (same
look-back window, same commutation and combination rules, same order of the surviving gates),
so the count is theirs; ``tests/passes/test_two_qubit_cost.py`` checks that on random and real
circuits. Ops are rows: a gate-table id (``OPAQUE`` for measurements, which stop every look-back
on their qubits), up to three qubits, and for rotations the angle as its constant plus its
symbolic part evaluated at two fixed random points (zero exactly when the symbols cancel).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

LOOKBACK = 64  # cancel.LOOKBACK
WINDOW = 2 * LOOKBACK  # positions kept per qubit (cancel._earlier_on)
SWAP_SCAN = 8  # expand_swaps looks this far on either side for a CNOT on the pair
OPAQUE = -1
TWO_PI = 2.0 * math.pi

# property columns of the gate table (one row per gate-table id)
P_NQ, P_DIAG, P_SELFINV, P_ROT, P_ZT, P_XT, P_SYM, P_INV, P_CX, P_CZ, P_SWAP = range(11)


@njit(cache=True)
def replay_routing(
    op_ptr: np.ndarray,
    op_q: np.ndarray,
    op_name: np.ndarray,
    op_angle: np.ndarray,
    seg_ptr: np.ndarray,
    events: np.ndarray,
    layout: np.ndarray,
    num_qubits: int,
    swap_id: int,
) -> tuple:
    """Physical rows of a routing (``sabre.RoutingResult.circuit``, without building it): ops on
    the current layout, each SWAP in the segment of the op it prepares, segments in order."""
    n_ops = len(op_ptr) - 1
    seg_of = np.searchsorted(seg_ptr, np.arange(n_ops), side="right") - 1
    cap = len(events) + len(op_q) + 1
    name = np.empty(cap, np.int64)
    q = np.full((cap, 3), -1, np.int64)
    angle = np.zeros((cap, 3))
    seg = np.empty(cap, np.int64)
    l2p = layout.copy()
    p2l = np.full(num_qubits, -1, np.int64)
    for lq in range(len(l2p)):
        p2l[l2p[lq]] = lq
    pend_u = np.empty(len(events), np.int64)
    pend_v = np.empty(len(events), np.int64)
    n_pend = 0
    m = 0
    for e in events:
        if e < 0:
            pend_u[n_pend], pend_v[n_pend] = (-e - 1) // num_qubits, (-e - 1) % num_qubits
            n_pend += 1
            continue
        s = seg_of[e]
        for i in range(n_pend):
            u, v = pend_u[i], pend_v[i]
            name[m], q[m, 0], q[m, 1], seg[m] = swap_id, u, v, s
            m += 1
            lu, lv = p2l[u], p2l[v]
            p2l[u] = -1
            p2l[v] = -1
            if lu >= 0:
                l2p[lu] = v
                p2l[v] = lu
            if lv >= 0:
                l2p[lv] = u
                p2l[u] = lv
        n_pend = 0
        a, b = op_ptr[e], op_ptr[e + 1]
        if op_name[e] == OPAQUE:  # one row per measured qubit: each stops look-backs on its qubit
            for k in range(a, b):
                name[m], q[m, 0], seg[m] = OPAQUE, l2p[op_q[k]], s
                m += 1
        else:
            name[m], seg[m] = op_name[e], s
            for k in range(a, b):
                q[m, k - a] = l2p[op_q[k]]
            angle[m] = op_angle[e]
            m += 1
    order = np.argsort(seg[:m], kind="mergesort")  # stable: event order within a segment
    counts = np.bincount(seg[:m], minlength=len(seg_ptr) - 1)
    out_ptr = np.zeros(len(seg_ptr), np.int64)
    out_ptr[1:] = np.cumsum(counts)
    return name[:m][order], q[:m][order], angle[:m][order], out_ptr


@njit(cache=True)
def _expand_swaps(name, q, angle, ptr, props, cx_id):
    """SWAP -> three CNOTs oriented like a CNOT on the pair within SWAP_SCAN ops (expand_swaps)."""
    n_swaps = 0
    for i in range(len(name)):
        if name[i] >= 0 and props[name[i], P_SWAP]:
            n_swaps += 1
    cap = len(name) + 2 * n_swaps
    o_name = np.empty(cap, np.int64)
    o_q = np.full((cap, 3), -1, np.int64)
    o_angle = np.zeros((cap, 3))
    o_ptr = np.zeros(len(ptr), np.int64)
    m = 0
    for s in range(len(ptr) - 1):
        lo, hi = ptr[s], ptr[s + 1]
        for i in range(lo, hi):
            if not (name[i] >= 0 and props[name[i], P_SWAP]):
                o_name[m] = name[i]
                o_q[m] = q[i]
                o_angle[m] = angle[i]
                m += 1
                continue
            a, b = q[i, 0], q[i, 1]
            c, t = a, b
            found = False
            for j in range(i + 1, min(hi, i + SWAP_SCAN)):
                if name[j] == cx_id and ((q[j, 0] == a and q[j, 1] == b) or (q[j, 0] == b and q[j, 1] == a)):
                    c, t = q[j, 0], q[j, 1]
                    found = True
                    break
            if not found:
                for j in range(i - 1, max(lo - 1, i - SWAP_SCAN), -1):
                    if name[j] == cx_id and ((q[j, 0] == a and q[j, 1] == b) or (q[j, 0] == b and q[j, 1] == a)):
                        c, t = q[j, 0], q[j, 1]
                        break
            for cc, tt in ((c, t), (t, c), (c, t)):
                o_name[m] = cx_id
                o_q[m, 0], o_q[m, 1] = cc, tt
                m += 1
        o_ptr[s + 1] = m
    return o_name[:m], o_q[:m], o_angle[:m], o_ptr


@njit(cache=True)
def _nq(props, name, q, i):
    if name[i] == OPAQUE:
        return 1
    return props[name[i], P_NQ]


@njit(cache=True)
def _commutes(props, name, q, i, j) -> bool:
    """cancel.commutes for rows i (earlier) and j, which share a qubit."""
    a, b = name[i], name[j]
    if props[a, P_DIAG] and props[b, P_DIAG]:
        return True
    for g, h in ((i, j), (j, i)):
        if props[name[g], P_CX] and props[name[h], P_NQ] == 1:
            x = q[h, 0]
            if x == q[g, 0] and props[name[h], P_ZT]:
                return True
            if x == q[g, 1] and props[name[h], P_XT]:
                return True
    if props[a, P_CX] and props[b, P_CX]:
        return (q[i, 0] == q[j, 0] and q[i, 1] != q[j, 1]) or (q[i, 1] == q[j, 1] and q[i, 0] != q[j, 0])
    if (props[a, P_CX] and props[b, P_CZ]) or (props[a, P_CZ] and props[b, P_CX]):
        cx, cz = (i, j) if props[a, P_CX] else (j, i)
        return q[cx, 1] != q[cz, 0] and q[cx, 1] != q[cz, 1]
    return False


@njit(cache=True)
def _same_support(props, name, q, i, j) -> bool:
    k = props[name[i], P_NQ]
    if k == props[name[j], P_NQ]:
        same = True
        for x in range(k):
            if q[i, x] != q[j, x]:
                same = False
        if same:
            return True
    if name[i] == name[j] and props[name[i], P_SYM] and k == 2:
        return q[i, 0] == q[j, 1] and q[i, 1] == q[j, 0]
    return False


@njit(cache=True)
def _zero_mod_2pi(const: float, s1: float, s2: float) -> bool:
    if abs(s1) > 1e-9 or abs(s2) > 1e-9:
        return False
    return abs(const - TWO_PI * np.round(const / TWO_PI)) < 1e-12


# what ``cancel`` did to a row, for the caller to replay on exact angles
DROPPED, CANCELLED, MERGED, VANISHED = range(4)


@njit(cache=True)
def cancel(
    name: np.ndarray, q: np.ndarray, angle: np.ndarray, ptr: np.ndarray, props: np.ndarray, num_qubits: int
) -> tuple:
    """``cancel.cancel_and_merge`` per segment: which rows survive, their (last merged) qubits,
    and the events (kind, earlier row, row) in order: DROPPED (a zero rotation), CANCELLED (an
    inverse pair), MERGED (rotations summed into the earlier row), VANISHED (summed to zero)."""
    n = len(name)
    events = np.empty((n, 3), np.int64)
    n_ev = 0
    alive = np.zeros(n, np.bool_)
    cur_angle = angle.copy()
    cur_q = q.copy()
    ring = np.empty((num_qubits, WINDOW), np.int64)
    count = np.zeros(num_qubits, np.int64)
    heads = np.empty(3, np.int64)
    for s in range(len(ptr) - 1):
        count[:] = 0
        for j in range(ptr[s], ptr[s + 1]):
            nm = name[j]
            k = _nq(props, name, q, j)
            if nm != OPAQUE and props[nm, P_ROT] and _zero_mod_2pi(angle[j, 0], angle[j, 1], angle[j, 2]):
                events[n_ev, 0], events[n_ev, 1], events[n_ev, 2] = DROPPED, -1, j
                n_ev += 1
                continue
            placed = False
            if nm != OPAQUE:
                # candidates: the latest WINDOW positions on each of its qubits, newest first,
                # unique (cancel._earlier_on), merged lazily since most scans stop at the first
                for t in range(k):
                    heads[t] = min(count[q[j, t]], WINDOW)  # entries left per qubit
                last = -1
                looked = 0
                while True:
                    p, bt = -1, -1
                    for t in range(k):
                        if heads[t] > 0:
                            x = q[j, t]
                            v = ring[x, (count[x] - 1 - (min(count[x], WINDOW) - heads[t])) % WINDOW]
                            if v > p:
                                p, bt = v, t
                    if bt < 0:
                        break
                    heads[bt] -= 1
                    if p == last:
                        continue
                    last = p
                    if not alive[p]:
                        continue
                    if name[p] == OPAQUE:
                        break
                    looked += 1
                    if looked > LOOKBACK:
                        break
                    # cancel._combine(prev=p, g=j)
                    if _same_support(props, name, cur_q, p, j):
                        kind = -1
                        if (name[p] == nm and props[nm, P_SELFINV]) or props[name[p], P_INV] == nm:
                            alive[p] = False
                            kind = CANCELLED
                        elif name[p] == nm and props[nm, P_ROT]:
                            c0 = cur_angle[p, 0] + angle[j, 0]
                            c1 = cur_angle[p, 1] + angle[j, 1]
                            c2 = cur_angle[p, 2] + angle[j, 2]
                            if _zero_mod_2pi(c0, c1, c2):
                                alive[p] = False
                                kind = VANISHED
                            else:
                                cur_angle[p, 0], cur_angle[p, 1], cur_angle[p, 2] = c0, c1, c2
                                cur_q[p] = q[j]
                                kind = MERGED
                        if kind >= 0:
                            events[n_ev, 0], events[n_ev, 1], events[n_ev, 2] = kind, p, j
                            n_ev += 1
                            placed = True
                            break
                    if not _commutes(props, name, cur_q, p, j):
                        break
            if not placed:
                alive[j] = True
                for t in range(k):
                    x = q[j, t]
                    ring[x, count[x] % WINDOW] = j
                    count[x] += 1
    return alive, cur_q, events[:n_ev]


@njit(cache=True)
def cancel_count(
    name: np.ndarray,
    q: np.ndarray,
    angle: np.ndarray,
    ptr: np.ndarray,
    props: np.ndarray,
    num_qubits: int,
    cost_matrix: np.ndarray,
    cx_id: int,
) -> tuple[float, int]:
    """Expand SWAPs, cancel and merge per segment, then sum the surviving two-qubit gates' costs
    in circuit order (so the float sum equals the Python one bit for bit)."""
    name, q, angle, ptr = _expand_swaps(name, q, angle, ptr, props, cx_id)
    alive, cur_q, _ = cancel(name, q, angle, ptr, props, num_qubits)
    total = 0.0
    two = 0
    for j in range(len(name)):
        if alive[j] and name[j] != OPAQUE and props[name[j], P_NQ] == 2:
            total += cost_matrix[cur_q[j, 0], cur_q[j, 1]]
            two += 1
    return total, two


@njit(cache=True)
def figures(name: np.ndarray, q: np.ndarray, alive: np.ndarray, props: np.ndarray, num_qubits: int) -> tuple:
    """``metrics.two_qubit_gates_and_depth`` of the circuit ``cancel`` leaves: its surviving gate
    rows in order (opaque rows are not gates: neither counted nor layered). A merged rotation
    keeps its row and acts on the same single qubit, so the rows' qubits are the output's."""
    level = np.zeros(num_qubits, np.int64)
    two = 0
    deepest = 0
    for j in range(len(name)):
        if not alive[j] or name[j] == OPAQUE:
            continue
        k = props[name[j], P_NQ]
        two += k == 2
        d = 0
        for t in range(k):
            d = max(d, level[q[j, t]])
        d += 1
        for t in range(k):
            level[q[j, t]] = d
        deepest = max(deepest, d)
    return two, deepest
