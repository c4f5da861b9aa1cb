"""The schedule as a timeline: idle windows, where a DD sequence fits in one, and the noise-model
estimate that ``--dd auto`` minimizes.

Timing is the noise model's (targets/noise.py): moment k starts at T_k and lasts D_k, its slowest
operation; every circuit operation starts at T_k and its qubit idles for the rest of the moment.
A qubit's idle window runs from the end of one of its operations to the start of its next (or to
the measurement). A DD gate goes into a moment of the window where the qubit has nothing to do
and which lasts at least as long as the gate, at an offset o in [0, D_k - d] from the moment's
start (``Schedule.offsets``): it ends within the moment, so no moment gets longer and nobody
else's timing moves. Within a moment each qubit is then idle over [0, b0) with sign s0 and over
[b1, D_k) with sign s1, busy over [b0, b1) (a circuit operation: b0 = 0; a pulse: o, o + d, and
s1 = -s0); a free moment has b0 = b1 = D_k.

The estimate (process infidelity, which adds over small independent errors and is the same
number for one qubit or a pair) counts what DD changes, with the Target's idle-noise model
(targets/idle_noise.py), phases accumulating only while a qubit idles (its own gates' time is in
their calibrated error):

- per live window of qubit q, with toggling sign s(t) (flipped by each pi pulse) and A = int s dt:
  the quasi-static detuning and the mean-field part of q's ZZ with every neighbour r that has left
  |0> rotate q by alpha = delta A / 2 - sum_r (zeta_r / 4) A_r (zeta in rad/ns, A_r over the time r
  is active), delta ~ N(0, sigma^2): E sin^2(alpha) = (1 - cos(2 alpha_0) exp(-sigma^2 A^2 / 2)) / 2;
- per coupler, the Z_q Z_r part (coefficient zeta / 4): over each stretch where both idle, cut at
  every circuit operation of either, theta = (zeta / 4) int s_q s_r dt (coherent within the
  stretch); over each of r's operations while q idles, theta = (zeta / 4) int s_q dt (r's frame
  is unknown there: a pulse of q in the middle of r's operation makes this 0); each costs
  sin^2(theta), stretches taken as independent;
- per DD gate, 3/2 of its calibrated average error (the process infidelity of a one-qubit gate).
  The idle decay a pulse replaces is not credited: the calibrated error already includes the
  qubit's decay while it plays.

A stretch where both idle lies in one window of each qubit and is the same number seen from
either, so the total counts it half from each side and a change of one window changes exactly the
terms that window sees (``WindowTerms.delta_weight``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from hqvit.ir.circuit import Gate
from hqvit.passes.dd_sequences import Sequence, pulse_gates
from hqvit.targets import Target


@dataclass(frozen=True)
class Window:
    qubit: int
    first: int  # moment of the operation that opens it
    end: int  # moment of the operation that closes it; the number of moments for the last one
    anchor: int  # index of the opening operation among the qubit's operations
    live: bool  # the qubit's state still matters (not the tail of an unmeasured qubit)

    @property
    def free(self) -> range:
        return range(self.first + 1, self.end)


@dataclass
class Placement:
    """A sequence laid into a window: each gate's moment, and whether it is a timed pi pulse (which
    flips the frame) or a frame change before one."""

    gates: list[Gate] = field(default_factory=list)
    moments: list[int] = field(default_factory=list)
    timed: list[bool] = field(default_factory=list)
    durations: list[float] = field(default_factory=list)
    offsets: list[float] = field(default_factory=list)  # ns after its moment's start
    cost: float = 0.0  # process infidelity of its gates


@dataclass(frozen=True)
class WindowTerms:
    local: float  # quasi-static + mean-field ZZ rotation of the qubit
    pieces: float  # ZZ while a neighbour runs an operation
    stretches: float  # ZZ while both idle (seen from this side)
    cost: float  # the DD gates' error

    @property
    def total_weight(self) -> float:
        """This window's share of the total estimate."""
        return self.local + self.pieces + 0.5 * self.stretches + self.cost

    @property
    def delta_weight(self) -> float:
        """What changes with this window's sequence (both halves of each shared stretch)."""
        return self.local + self.pieces + self.stretches + self.cost


def _overlap(a0: np.ndarray, a1: np.ndarray, c0: np.ndarray, c1: np.ndarray) -> np.ndarray:
    """Lengths of [a0, a1) intersected with [c0, c1), elementwise."""
    return np.maximum(0.0, np.minimum(a1, c1) - np.maximum(a0, c0))


class Timeline:
    def __init__(self, moments: list[list[Gate]], measured: tuple[int, ...], num_qubits: int, target: Target):
        self.target, n, m = target, num_qubits, len(moments)
        self.op_duration = np.full((n, m), np.nan)  # the circuit's own operations
        ops: list[list[int]] = [[] for _ in range(n)]
        for k, layer in enumerate(moments):
            for g in layer:
                d = target.gate_duration(g.name, g.qubits)
                for q in g.qubits:
                    self.op_duration[q, k] = d
                    ops[q].append(k)
        self.duration = np.nan_to_num(np.nanmax(self.op_duration, axis=0, initial=0.0), nan=0.0)
        self.start = np.concatenate([[0.0], np.cumsum(self.duration)])
        self.first_op = np.array([o[0] if o else m for o in ops])
        done = set(measured)
        self.windows = [
            Window(q, o[i], o[i + 1] if i + 1 < len(o) else m, i, i + 1 < len(o) or q in done)
            for q, o in enumerate(ops)
            for i in range(len(o))
        ]
        # the DD state per (qubit, moment): busy interval [b0, b1) and the signs before / after it
        has_op = ~np.isnan(self.op_duration)
        self.b0 = np.where(has_op, 0.0, self.duration[None, :])
        self.b1 = np.where(has_op, np.nan_to_num(self.op_duration), self.duration[None, :])
        self.s0 = np.ones((n, m))
        self.s1 = np.ones((n, m))
        self.neighbours: list[list[tuple[int, float]]] = [[] for _ in range(n)]
        for (a, b), khz in target.zz_khz.items():
            if khz and a < n and b < n:
                c = target.zz_rad_per_ns(a, b) / 4
                self.neighbours[a].append((b, c))
                self.neighbours[b].append((a, c))
        self.sigma = target.quasi_static_sigma()

    # -- placement ---------------------------------------------------------------------------
    def _timed(self, k: int, d: float, centre: float) -> float:
        """The offset in moment ``k`` that puts a gate of duration ``d`` closest to ``centre``."""
        return float(min(max(centre - d / 2 - self.start[k], 0.0), self.duration[k] - d))

    def place(self, w: Window, seq: Sequence) -> Placement | None:
        """Each pulse as close to its ideal time as the free moments allow (at an offset inside a
        long one), in order, with its frame changes at the start of the moments just before it;
        None if the window is too short."""
        q, t = w.qubit, self.target
        pulses = [pulse_gates(axis, q, t) for axis in seq.axes]
        t0 = self.start[w.first] + self.op_duration[q, w.first]
        tau = self.start[w.end] - t0
        chosen: list[tuple[int, float, list[Gate]]] = []
        prev = w.first
        for j, gates in enumerate(pulses):
            d = t.gate_duration(gates[-1].name, (q,))
            rest = sum(len(g) for g in pulses[j + 1 :])
            lo, hi = prev + len(gates), w.end - 1 - rest  # room for its frame changes and the rest
            cands = [k for k in range(lo, hi + 1) if self.duration[k] >= d]
            if not cands:
                return None
            ideal = t0 + seq.fractions[j] * tau
            k = min(cands, key=lambda k: abs(self.start[k] + self._timed(k, d, ideal) + d / 2 - ideal))
            chosen.append((k, self._timed(k, d, ideal), gates))
            prev = k
        return self._placement(chosen)

    def echo_moments(self, w: Window) -> list[tuple[int, float]]:
        """(moment, centre offset) of each free moment of ``w`` in which a neighbour that has left
        |0> plays a circuit operation at least twice as long as an X pulse: a pulse centred in the
        middle of that operation makes int s dt over it zero, which refocuses the ZZ the
        neighbour's operation would leave (the "pieces")."""
        q = w.qubit
        d = self.target.gate_duration(pulse_gates("X", q, self.target)[-1].name, (q,))
        out = []
        for k in w.free:
            if self.duration[k] < d:
                continue
            longest = max(
                (self.op_duration[r, k] for r, _ in self.neighbours[q] if k >= self.first_op[r]),
                default=np.nan,
            )
            if longest >= 2 * d:  # nan compares False
                out.append((k, float(longest) / 2))
        return out

    def place_echo(self, w: Window, drop: str) -> Placement | None:
        """X pulses in the middle of the neighbours' long operations (``echo_moments``), without
        the first or the last of them (``drop`` = "first", "last", or "none"), plus one
        balancing pulse when their number is odd (``_balancing``); None if nothing is left or
        no balancing pulse fits."""
        points = self.echo_moments(w)
        points = points[1:] if drop == "first" else points[:-1] if drop == "last" else points
        if not points:
            return None
        q, t = w.qubit, self.target
        gates = pulse_gates("X", q, t)
        d = t.gate_duration(gates[-1].name, (q,))
        timed = [(k, self._timed(k, d, self.start[k] + c)) for k, c in points]
        if len(timed) % 2:
            extra = self._balancing(w, timed, d)
            if extra is None:
                return None
            timed = sorted(timed + [extra])
        return self._placement([(k, o, gates) for k, o in timed])

    def place_segments(self, w: Window, min_len: float) -> Placement | None:
        """An X pulse centred in every stretch of ``w`` at least ``min_len`` ns long over which
        no neighbour that has left |0> changes: no operation or DD pulse of a neighbour starts
        or ends inside it, so each neighbour's sign (and busy state) is constant there, and the
        pulse makes int s_q dt, int s_q s_r dt and the ZZ piece of a neighbour's operation all
        zero over it (ADAPT-style staggering against the neighbours' current choices; with an
        operation of the neighbour the stretch is that operation, the mid-gate echo). One pulse
        per moment (the schedule holds one operation per qubit and moment), in a free moment of
        ``w`` that fits it; an odd count gets a balancing pulse; None if there is none."""
        q, t = w.qubit, self.target
        gates = pulse_gates("X", q, t)
        d = t.gate_duration(gates[-1].name, (q,))
        ks = np.arange(w.first, w.end)
        t0, t1 = self.start[w.first] + self.op_duration[q, w.first], self.start[w.end]
        cuts = [np.array([t0, t1])]
        for r, _ in self.neighbours[q]:
            active = ks >= self.first_op[r]
            if not active[-1]:
                continue
            b0, b1 = self.b0[r, ks], self.b1[r, ks]
            busy = (b1 > b0) & active
            cuts += [(self.start[ks] + b0)[busy], (self.start[ks] + b1)[busy]]
        edges = np.unique(np.clip(np.concatenate(cuts), t0, t1))
        timed: dict[int, float] = {}
        for lo, hi in zip(edges[:-1], edges[1:], strict=True):
            if hi - lo < min_len:
                continue
            mid = 0.5 * (lo + hi)
            k = int(np.searchsorted(self.start, mid, side="right")) - 1
            if w.first < k < w.end and k not in timed and self.duration[k] >= d:
                timed[k] = self._timed(k, d, mid)
        chosen = sorted(timed.items())
        if not chosen:
            return None
        if len(chosen) % 2:
            extra = self._balancing(w, chosen, d)
            if extra is None:
                return None
            chosen = sorted(chosen + [extra])
        return self._placement([(k, o, gates) for k, o in chosen])

    def _balancing(self, w: Window, timed: list[tuple[int, float]], d: float) -> tuple[int, float] | None:
        """The (moment, offset) of one more pulse of duration ``d``, in a free moment without a
        pulse, that brings the window's int s dt closest to zero: the quasi-static detuning
        and the mean-field ZZ are then refocused along with the echoed operations.

        With the extra pulse at offset o of moment j, where the sign is s_j, int s dt =
        P_j - S_j + s_j (2 o - (D_j - d)), P_j and S_j the integrals before and after moment j
        with the given pulses; it is linear in o, so the best o is that root clipped to the
        moment."""
        gates = pulse_gates("X", w.qubit, self.target)
        ks, b0, b1, s0, s1 = self._own(w, self._placement([(k, o, gates) for k, o in timed]))
        dur = self.duration[ks]
        weighted = s0 * b0 + s1 * (dur - b1)
        before = np.concatenate([[0.0], np.cumsum(weighted)[:-1]])
        after = weighted.sum() - before - weighted
        used = {k for k, _ in timed}
        best: tuple[float, int, float] | None = None
        for i in range(1, len(ks)):
            k = int(ks[i])
            if k in used or dur[i] < d:
                continue
            room = dur[i] - d
            o = min(max(0.5 * (room - (before[i] - after[i]) / s0[i]), 0.0), room)
            resid = abs(before[i] - after[i] + s0[i] * (2 * o - room))
            if best is None or resid < best[0]:
                best = (resid, k, o)
        return None if best is None else (best[1], best[2])

    def _placement(self, chosen: list[tuple[int, float, list[Gate]]]) -> Placement | None:
        """Each pulse's frame changes go at the start of the moments just before its own (they
        take no time on the targets that have them; a gate that does not fit makes it None)."""
        out, t = Placement(), self.target
        for k, offset, gates in chosen:
            for i, g in enumerate(gates):
                last = i == len(gates) - 1
                mk, dg = k - len(gates) + 1 + i, t.gate_duration(g.name, g.qubits)
                o = offset if last else 0.0
                if self.duration[mk] < o + dg:
                    return None
                out.gates.append(g)
                out.moments.append(mk)
                out.timed.append(last)
                out.durations.append(dg)
                out.offsets.append(o)
                out.cost += 1.5 * t.gate_error(g.name, g.qubits)
        return out

    # -- the estimate ------------------------------------------------------------------------
    def _own(self, w: Window, p: Placement | None) -> tuple[np.ndarray, ...]:
        """The window's moments and, per moment, the qubit's busy interval and its signs."""
        q = w.qubit
        ks = np.arange(w.first, w.end)
        b0, b1 = self.duration[ks].copy(), self.duration[ks].copy()
        b0[0], b1[0] = 0.0, self.op_duration[q, w.first]
        flips = np.zeros(len(ks), dtype=np.int64)
        if p is not None:
            for mk, timed, d, o in zip(p.moments, p.timed, p.durations, p.offsets, strict=True):
                b0[mk - w.first], b1[mk - w.first] = o, o + d
                flips[mk - w.first] += timed
        after = np.cumsum(flips)
        return ks, b0, b1, np.where((after - flips) % 2, -1.0, 1.0), np.where(after % 2, -1.0, 1.0)

    def terms(self, w: Window, p: Placement | None) -> WindowTerms:
        """The estimate's terms for window ``w`` played with placement ``p`` (None: no DD), the
        neighbours as they are now."""
        q = w.qubit
        ks, b0, b1, s0, s1 = self._own(w, p)
        dur = self.duration[ks]
        cost = 0.0 if p is None else p.cost
        if not (b0 + dur - b1).any():
            return WindowTerms(0.0, 0.0, 0.0, cost)
        weighted = s0 * b0 + s1 * (dur - b1)
        mean_field, pieces, stretches = 0.0, 0.0, 0.0
        for r, c in self.neighbours[q]:
            active = ks >= self.first_op[r]
            if not active[-1]:
                continue  # r is still in |0> (it stays active once it is not): no ZZ
            mean_field += c * float(weighted[active].sum())
            has_op = ~np.isnan(self.op_duration[r, ks]) & active
            # r's circuit operation [0, e) while q idles
            e = np.where(has_op, self.b1[r, ks], 0.0)
            piece = s0 * np.minimum(b0, e) + s1 * np.maximum(0.0, e - b1)
            pieces += float((np.sin(c * piece) ** 2).sum())
            # both idle: q's two idle intervals against r's
            r0, r1, rs0, rs1 = self.b0[r, ks], self.b1[r, ks], self.s0[r, ks], self.s1[r, ks]
            zero = np.zeros_like(dur)
            both = (
                s0 * rs0 * np.minimum(b0, r0)
                + s0 * rs1 * _overlap(zero, b0, r1, dur)
                + s1 * rs0 * _overlap(b1, dur, zero, r0)
                + s1 * rs1 * (dur - np.maximum(b1, r1))
            ) * active
            sums = np.bincount(np.cumsum(has_op), weights=both)
            stretches += float((np.sin(c * sums) ** 2).sum())
        local = 0.0
        if w.live:
            a, sigma = float(weighted.sum()), float(self.sigma[q])
            local = 0.5 * (1.0 - math.cos(2.0 * mean_field) * math.exp(-0.5 * (sigma * a) ** 2))
        return WindowTerms(local, pieces, stretches, cost)

    def apply(self, w: Window, p: Placement | None) -> None:
        """Make ``p`` (None: nothing) the window's sequence in the state the estimate reads."""
        ks, b0, b1, s0, s1 = self._own(w, p)
        q = w.qubit
        self.b0[q, ks[1:]], self.b1[q, ks[1:]] = b0[1:], b1[1:]
        self.s0[q, ks], self.s1[q, ks] = s0, s1
