"""The schedule as a timeline: idle windows, where a DD sequence fits in one, and the noise-model
estimate that ``--dd auto`` minimizes.

Timing is the noise model's (targets/noise.py): moment k starts at T_k and lasts D_k, its slowest
operation; every operation starts at T_k and its qubit idles for the rest of the moment. A qubit's
idle window runs from the end of one of its operations to the start of its next (or to the
measurement). DD gates go only into moments of the window where the qubit has nothing to do and
which last at least as long as the gate, so no moment gets longer and nobody else's timing moves.

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
  is unknown there); each costs sin^2(theta), stretches taken as independent;
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
        # the DD state: gate time per (qubit, moment), and the sign of each moment's idle part
        self.dd_time = np.zeros((n, m))
        self.sign = np.ones((n, m))
        self.neighbours: list[list[tuple[int, float]]] = [[] for _ in range(n)]
        for (a, b), khz in target.zz_khz.items():
            if khz and a < n and b < n:
                c = target.zz_rad_per_ns(a, b) / 4
                self.neighbours[a].append((b, c))
                self.neighbours[b].append((a, c))
        self.sigma = target.quasi_static_sigma()

    # -- placement ---------------------------------------------------------------------------
    def place(self, w: Window, seq: Sequence) -> Placement | None:
        """Each pulse in the free moment whose centre is nearest its ideal time, in order, with
        its frame changes in the moments just before it; None if the window is too short."""
        q, t = w.qubit, self.target
        pulses = [pulse_gates(axis, q, t) for axis in seq.axes]
        t0 = self.start[w.first] + self.op_duration[q, w.first]
        tau = self.start[w.end] - t0
        out, prev = Placement(), w.first
        for j, gates in enumerate(pulses):
            d = t.gate_duration(gates[-1].name, (q,))
            rest = sum(len(g) for g in pulses[j + 1 :])
            lo, hi = prev + len(gates), w.end - 1 - rest  # room for its frame changes and the rest
            cands = [k for k in range(lo, hi + 1) if self.duration[k] >= d]
            if not cands:
                return None
            ideal = t0 + seq.fractions[j] * tau
            k = min(cands, key=lambda k: abs(self.start[k] + d / 2 - ideal))
            for i, g in enumerate(gates):
                mk, dg = k - len(gates) + 1 + i, t.gate_duration(g.name, (q,))
                if self.duration[mk] < dg:
                    return None
                out.gates.append(g)
                out.moments.append(mk)
                out.timed.append(i == len(gates) - 1)
                out.durations.append(dg)
                out.cost += 1.5 * t.gate_error(g.name, (q,))
            prev = k
        return out

    # -- the estimate ------------------------------------------------------------------------
    def _own(self, w: Window, p: Placement | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The window's moments, the qubit's busy time at the start of each, and its sign."""
        ks = np.arange(w.first, w.end)
        busy = np.zeros(len(ks))
        busy[0] = self.op_duration[w.qubit, w.first]
        flips = np.zeros(len(ks), dtype=np.int64)
        if p is not None:
            for mk, timed, d in zip(p.moments, p.timed, p.durations, strict=True):
                busy[mk - w.first] = d
                flips[mk - w.first] += timed
        return ks, busy, np.where(np.cumsum(flips) % 2, -1.0, 1.0)

    def terms(self, w: Window, p: Placement | None) -> WindowTerms:
        """The estimate's terms for window ``w`` played with placement ``p`` (None: no DD), the
        neighbours as they are now."""
        q = w.qubit
        ks, busy, s = self._own(w, p)
        idle = self.duration[ks] - busy
        cost = 0.0 if p is None else p.cost
        if not idle.any():
            return WindowTerms(0.0, 0.0, 0.0, cost)
        weighted = s * idle
        mean_field, pieces, stretches = 0.0, 0.0, 0.0
        for r, c in self.neighbours[q]:
            active = ks >= self.first_op[r]
            if not active[-1]:
                continue  # r is still in |0> (it stays active once it is not): no ZZ
            mean_field += c * float(weighted[active].sum())
            op = self.op_duration[r, ks]
            has_op = ~np.isnan(op) & active
            op = np.where(has_op, op, 0.0)
            r_busy = op + self.dd_time[r, ks]
            both = np.maximum(0.0, self.duration[ks] - np.maximum(busy, r_busy)) * active
            piece = np.minimum(np.maximum(op - busy, 0.0), idle) * has_op
            pieces += float((np.sin(c * s * piece) ** 2).sum())
            sums = np.bincount(np.cumsum(has_op), weights=s * self.sign[r, ks] * both)
            stretches += float((np.sin(c * sums) ** 2).sum())
        local = 0.0
        if w.live:
            a, sigma = float(weighted.sum()), float(self.sigma[q])
            local = 0.5 * (1.0 - math.cos(2.0 * mean_field) * math.exp(-0.5 * (sigma * a) ** 2))
        return WindowTerms(local, pieces, stretches, cost)

    def apply(self, w: Window, p: Placement | None) -> None:
        """Make ``p`` (None: nothing) the window's sequence in the state the estimate reads."""
        ks, busy, s = self._own(w, p)
        self.dd_time[w.qubit, w.first + 1 : w.end] = busy[1:]
        self.sign[w.qubit, ks] = s
