"""Device noise: a cirq.NoiseModel that qsim simulates with trajectories, and the estimated
success probability (ESP) computed from the very same per-moment error plan.

Per moment (a moment lasts as long as its slowest operation):
- every operation, native or not, is followed by a depolarizing channel whose Pauli error
  p = r (d + 1) / d reproduces its average infidelity r (coupler error for two-qubit gates, the
  median coupler error for pairs without a coupler, 1 - (1 - r2)^8 for three-qubit gates);
  Cirq's own device noise models skip gates they do not know (Cirq issue #6607), this one
  does not;
- every qubit that has been touched idles for the rest of the moment: amplitude damping
  1 - exp(-t/T1) and phase damping 1 - exp(-2t/Tphi) (coherences decay as exp(-t/Tphi));
- before measurement, a bit flip with the qubit's readout error.
``scale`` multiplies every error probability and decoherence rate (noise studies).

ESP = prod(1 - r) * prod(1 - readout) * prod over idle windows exp(-t/T1) exp(-t/Tphi).
ESP counts every T1 or dephasing window as a total failure, so it is pessimistic where idling
dominates; ``fidelity_estimate`` weights idle windows by their average-state-fidelity cost
instead (amplitude damping gamma costs gamma/3, phase damping of coherence exp(-t/Tphi) costs
about t/(3 Tphi)): exp(-t/(3 T1) - t/(3 Tphi)). Both are reported; tests/targets/test_noise.py compares
them with qsim trajectories.

What ESP and ``fidelity_estimate`` capture is exactly this Markovian model (the qsim noise model
below): depolarizing gate error, T1 / Tphi idle damping, readout flips. They do NOT capture the
coherent idle noise the batched trajectory engine adds (targets/idle_noise.py): static ZZ and
quasi-static dephasing. Coherent errors add in amplitude, so they cannot be priced per moment;
and they can be refocused, so a DD pulse lowers both figures (its gate error is all they see)
even where it helps. ``fidelity_estimate_coherent`` is ``fidelity_estimate`` times the factors
of those two terms (``coherent_idle``), with ``idle_zz`` and ``idle_quasi_static`` reported
apart. How: a Z error on a qubit is carried through the schedule in the qubit's toggling frame
(a pi pulse x / y turns Z into -Z; a diagonal gate commutes with it) and ends at the qubit's next
other operation, which is taken to scramble it: the phases before and after are independent
errors. Per qubit segment with A = int s dt of idle time (s the toggling sign): quasi-static
dephasing, delta ~ N(0, sigma^2), gives the average infidelity (1 - exp(-sigma^2 A^2 / 2)) / 3
(of exp(-i delta A Z / 2) averaged over delta). Per coupler segment (ended by either qubit's
scrambling operation), timed as the engine does (the part of each moment where at least one of
the pair idles, both touched): H = zeta |11><11| in the toggling frame is
(zeta / 4)(1 - s_a Z_a - s_b Z_b + s_a s_b Z_a Z_b), so the segment's unitary has the phases
theta(z_a, z_b) = (zeta / 4)(-A_a z_a - A_b z_b + A_ab z_a z_b) and the two-qubit average
infidelity (4 / 5)(1 - |mean exp(i theta)|^2). A segment that no later operation closes (a
qubit's or a pair's tail) is not counted: a diagonal unitary before the end leaves the measured
distribution unchanged (the engine drops it too). Not captured: that the detuning and the Z_a parts
of different couplers rotate the same qubit (taken as independent factors, not one angle), any
refocusing through a non-diagonal gate, and T1 / Tphi during those phases (the factors multiply).
"""

from __future__ import annotations

import bisect
import gc
import math
from collections.abc import Iterable, Iterator, Sequence, Sized
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import chain, repeat
from operator import attrgetter
from typing import Protocol

import cirq
import numpy as np

from hqvit.ir.gates import gate_spec
from hqvit.ir.metrics import asap_layers
from hqvit.targets.target import Target


class ScheduleLike(Protocol):
    """What the estimates read of a schedule (``passes.schedule.Schedule``, a layer above this one)."""

    moments: list[list]  # per moment, its gates (each with .name and .qubits)
    measured: tuple[int, ...]


@dataclass
class MomentPlan:
    duration_ns: float
    errors: list[tuple[tuple[int, ...], float]] = field(default_factory=list)  # (qubits, infidelity r)
    idle: list[tuple[int, float]] = field(default_factory=list)  # (qubit, ns)
    ops: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)  # (gate name, qubits)
    busy: dict[int, float] = field(default_factory=dict)  # qubit -> its operation's ns


class _GateCosts(dict):
    """(gate name, qubits) -> (Target.gate_error, Target.gate_duration), each asked once.

    A schedule repeats a few dozen distinct operations thousands of times; the target's answer
    depends on the name and the qubits only, so the memo returns exactly what the calls would.
    """

    def __init__(self, target: Target):
        super().__init__()
        self.target = target

    def __missing__(self, op: tuple[str, tuple[int, ...]]) -> tuple[float, float]:
        name, qs = op
        cost = self[op] = (self.target.gate_error(name, qs), self.target.gate_duration(name, qs))
        return cost


def plan_moments(moments: list[list[tuple[str, tuple[int, ...]]]], target: Target) -> list[MomentPlan]:
    """``moments``: per moment, the (gate name, physical qubits) of each operation.

    What each operation costs is the target's decision (Target.gate_error / gate_duration), so
    ESP, the noise model, the scheduler and the benchmark scoring cannot disagree about it.
    Touched qubits are kept in ascending order as they appear (each is inserted once), which is
    the order sorting the touched set every moment would give.
    """
    with _collector_paused():
        return _plans(moments, _GateCosts(target))


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector, and resume it if it was running.

    A plan is a few lists of fresh tuples per moment, none of them in a reference cycle, so the
    collector has nothing to free in them; left running, it traverses them again and again as
    they accumulate (over half of ``plan_moments``' time on a 10,000-moment schedule). Reference
    counting still frees everything else meanwhile.
    """
    running = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if running:
            gc.enable()


def _plans(moments: list[list[tuple[str, tuple[int, ...]]]], costs: _GateCosts) -> list[MomentPlan]:
    """``plan_moments``' loop."""
    order: list[int] = []  # the touched qubits, ascending
    position: dict[int, int] = {}  # touched qubit -> its index in ``order``
    plans = []
    for ops in moments:
        ops = list(ops)
        op_costs = [costs[op] for op in ops]
        duration = max((d for _, d in op_costs), default=0.0)
        busy: dict[int, float] = {}
        errors = []
        for (_, qs), (r, d) in zip(ops, op_costs, strict=True):
            errors.append((qs, r))
            for q in qs:
                busy[q] = d
        if not position.keys() >= busy.keys():
            for q in busy.keys() - position.keys():
                bisect.insort(order, q)
            position = {q: i for i, q in enumerate(order)}
        plans.append(MomentPlan(duration, errors, _idle(order, position, busy, duration), ops, busy))
    return plans


def _idle(
    order: list[int], position: dict[int, int], busy: dict[int, float], duration: float
) -> list[tuple[int, float]]:
    """``[(q, t) for q in order if (t := duration - busy.get(q, 0.0)) > 0]``, the touched qubits'
    idle windows, with the tuples of the qubits without an operation made in C.

    Every ``busy`` qubit is in ``order``. A qubit without an operation idles ``duration - 0.0``,
    so if that is not positive only a busy qubit can idle (with a negative busy time).
    Otherwise every qubit starts with it, and the few busy ones are then set or dropped at
    their positions (dropped from the back, so earlier positions stay valid).
    """
    if not duration > 0:
        return [(q, t) for q in sorted(busy) if (t := duration - busy[q]) > 0]
    idle = list(zip(order, repeat(duration - 0.0)))
    dropped = []
    for q, d in busy.items():
        t = duration - d
        if t > 0:
            idle[position[q]] = (q, t)
        else:
            dropped.append(position[q])
    for i in sorted(dropped, reverse=True):
        del idle[i]
    return idle


def esp(
    plans: list[MomentPlan], measured: tuple[int, ...], target: Target, scale: float = 1.0, coherent: bool = True
) -> dict:
    log_gate = sum(math.log1p(-min(1.0, scale * r)) if scale * r < 1 else -math.inf for p in plans for _, r in p.errors)
    t1, tphi = target.decoherence_ns()
    log_idle = -scale * sum(t / t1[q] + t / tphi[q] for p in plans for q, t in p.idle)
    log_ro = _log_readout(measured, target, scale)
    out = {
        "esp": math.exp(log_gate + log_idle + log_ro),
        "fidelity_estimate": math.exp(log_gate + log_idle / 3 + log_ro),
    }
    if coherent:  # off for the compiler's candidate ranking, which reads "esp" only: it is the slow part
        log_zz, log_qs = coherent_idle(plans, target, scale)
        out["fidelity_estimate_coherent"] = math.exp(log_gate + log_idle / 3 + log_ro + log_zz + log_qs)
        out["idle_zz"] = math.exp(log_zz)
        out["idle_quasi_static"] = math.exp(log_qs)
    return out | {
        "esp_gates": math.exp(log_gate),
        "esp_idle": math.exp(log_idle),
        "esp_readout": math.exp(log_ro),
        "duration_ns": sum(p.duration_ns for p in plans),
    }


def _log_readout(measured: tuple[int, ...], target: Target, scale: float) -> float:
    """log of ESP's readout factor: prod over measured qubits of (1 - scaled readout error)."""
    ro = [min(1.0, scale * target.readout_error[q]) for q in measured]
    return sum(math.log1p(-r) if r < 1 else -math.inf for r in ro)


class _OpIndex(dict):
    """(gate name, qubits) -> a dense index, assigned in order of first appearance."""

    def __missing__(self, op: tuple[str, tuple[int, ...]]) -> int:
        index = self[op] = len(self)
        return index


IDLE_BLOCK = 1 << 16  # (moment, qubit) cells per block of the idle sum: bounded memory


def esp_of_moments(
    moments: list[list[tuple[str, tuple[int, ...]]]], measured: tuple[int, ...], target: Target, scale: float = 1.0
) -> dict:
    """``esp(plan_moments(moments, target), measured, target, scale, coherent=False)``, the same
    floats, without building a plan per moment (the compiler ranks its candidates by it).

    Why the numbers are identical, term by term:
    - gate factor: the same ``log1p`` per operation (one per distinct (name, qubits), from the
      same Target calls), summed by ``sum`` in operation order, as ``esp`` sums them;
    - durations: each moment's is the largest of its operations' (0 if it has none), summed
      by ``sum`` in moment order;
    - idle factor: ``esp`` adds ``t / T1 + t / Tphi`` one by one, moments in order and the touched
      qubits of a moment ascending (its terms are numpy floats, so ``sum`` adds them plainly,
      without compensation). Here the same terms fill a (moment, used qubit) array in that
      row-major order, the other cells 0 (not yet touched, or no idle time: t <= 0 is skipped
      there), and ``np.add.accumulate`` adds them one by one in that order: every term is the
      same IEEE quotient and sum, and adding +0.0 to a sum of non-negative terms leaves it as is.
    A qubit that two operations of one moment touch takes the duration of the later one, as in
    ``plan_moments``.
    """
    return _esp_of_ops(moments, chain.from_iterable(moments), measured, target, scale)


def esp_of_schedule(schedule: ScheduleLike, target: Target, scale: float = 1.0) -> dict:
    """``esp_of_moments`` of the schedule's gates as (name, qubits) and of its measured qubits.

    The pairs are made one at a time and dropped once looked up, rather than held in a list
    of lists (which is as slow to build as the rest of the estimate)."""
    ops = map(attrgetter("name", "qubits"), chain.from_iterable(schedule.moments))
    return _esp_of_ops(schedule.moments, ops, schedule.measured, target, scale)


def _esp_of_ops(
    moments: Sequence[Sized],
    ops: Iterable[tuple[str, tuple[int, ...]]],
    measured: tuple[int, ...],
    target: Target,
    scale: float,
) -> dict:
    """``esp_of_moments`` with the operations ``ops`` in order, ``moments`` giving how many each
    moment has."""
    index = _OpIndex()
    counts = np.fromiter(map(len, moments), dtype=np.intp, count=len(moments))
    ids = np.fromiter(map(index.__getitem__, ops), dtype=np.intp, count=counts.sum())
    costs = [(target.gate_error(name, qs), target.gate_duration(name, qs)) for name, qs in index]
    log_r = [math.log1p(-min(1.0, scale * r)) if scale * r < 1 else -math.inf for r, _ in costs]
    log_gate = sum(np.array(log_r, dtype=np.float64)[ids].tolist())  # the same Python floats, in order
    op_ns = np.array([d for _, d in costs], dtype=np.float64)[ids]
    moment_ns = _moment_durations(op_ns, counts)
    log_idle = -scale * _idle_sum(index, ids, counts, op_ns, moment_ns, target)
    log_ro = _log_readout(measured, target, scale)
    return {
        "esp": math.exp(log_gate + log_idle + log_ro),
        "fidelity_estimate": math.exp(log_gate + log_idle / 3 + log_ro),
        "esp_gates": math.exp(log_gate),
        "esp_idle": math.exp(log_idle),
        "esp_readout": math.exp(log_ro),
        "duration_ns": sum(moment_ns.tolist()),
    }


def _moment_durations(op_ns: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Per moment the longest of its operations' durations (``op_ns`` in moment order, ``counts``
    operations per moment), 0 for an empty moment: ``plan_moments``' duration."""
    out = np.zeros(len(counts))
    full = counts > 0
    if full.any():
        starts = np.cumsum(counts) - counts
        # consecutive starts of non-empty moments bound exactly one moment's operations
        out[full] = np.maximum.reduceat(op_ns, starts[full])
    return out


def _idle_sum(
    index: _OpIndex, ids: np.ndarray, counts: np.ndarray, op_ns: np.ndarray, moment_ns: np.ndarray, target: Target
) -> np.float64:
    """sum of t / T1[q] + t / Tphi[q] over ``plan_moments``' idle windows (q, t), in its order
    (esp_of_moments' docstring says why the float is the same)."""
    arity = np.array([len(qs) for _, qs in index], dtype=np.intp)
    width = max(arity.max(initial=0), 1)
    key_qubits = np.zeros((len(index), width), dtype=np.intp)
    for k, (_, qs) in enumerate(index):
        key_qubits[k, : len(qs)] = qs
    present = np.arange(width) < arity[ids][:, None]  # (operation, slot) holds a qubit
    op_of, _ = np.nonzero(present)  # row-major: operations in order, each one's qubits in order
    qubit = key_qubits[ids][present]
    row = np.repeat(np.arange(len(counts)), counts)[op_of]  # each entry's moment, non-decreasing
    ns = op_ns[op_of]
    used = np.flatnonzero(np.bincount(qubit))  # ascending, as plan_moments orders touched qubits
    col = np.searchsorted(used, qubit)
    first_row = np.full(len(used), len(counts))
    np.minimum.at(first_row, col, row)  # the moment that touches each used qubit first
    t1, tphi = target.decoherence_ns()
    t1, tphi = t1[used], tphi[used]
    width = len(used)
    acc = np.zeros(1)
    block = max(1, IDLE_BLOCK // max(width, 1))
    for a in range(0, len(counts) if width else 0, block):
        b = min(a + block, len(counts))
        lo, hi = np.searchsorted(row, (a, b))
        busy = _busy_block(b - a, width, row[lo:hi] - a, col[lo:hi], ns[lo:hi])
        t = moment_ns[a:b, None] - busy
        touched = np.arange(a, b)[:, None] >= first_row[None, :]
        t = np.where(touched & (t > 0), t, 0.0)
        terms = t / t1 + t / tphi
        acc = np.add.accumulate(np.concatenate((acc, terms.ravel())))[-1:]
    return acc[0]


def _busy_block(rows: int, width: int, row: np.ndarray, col: np.ndarray, ns: np.ndarray) -> np.ndarray:
    """(rows, width) busy time of each (moment, used qubit) of a block, 0 where it has no
    operation; of two operations on one qubit in one moment the later one counts."""
    busy = np.zeros(rows * width)
    cell = row * width + col
    seen = np.zeros(rows * width, dtype=bool)
    seen[cell] = True
    if np.count_nonzero(seen) < len(cell):  # keep each cell's last entry (numpy's order is unspecified)
        _, last_reversed = np.unique(cell[::-1], return_index=True)
        keep = len(cell) - 1 - last_reversed
        cell, ns = cell[keep], ns[keep]
    busy[cell] = ns
    return busy.reshape(rows, width)


PI_PULSES = ("x", "y")  # conjugate Z into -Z: they flip the toggling frame (DD pulses on IBM's set)


def _frame_effect(name: str) -> str:
    """How an operation acts on a Z error of its qubits: "flip", "commute" or "scramble"."""
    if name in PI_PULSES:
        return "flip"
    try:
        return "commute" if gate_spec(name).diagonal else "scramble"
    except ValueError:  # a name the IR does not know (a Cirq gate type): assume the worst
        return "scramble"


def _log1m(r: float) -> float:
    return math.log1p(-r) if r < 1 else -math.inf


def zz_pair_infidelity(zeta: float, a_a: float, a_b: float, a_ab: float) -> float:
    """Average two-qubit infidelity of the toggling-frame ZZ segment (module docstring): zeta
    in rad/ns, the three integrals in ns."""
    z = np.array([1.0, -1.0])
    za, zb = np.meshgrid(z, z, indexing="ij")
    theta = (zeta / 4) * (-a_a * za - a_b * zb + a_ab * za * zb)
    process = abs(np.exp(1j * theta).mean()) ** 2
    return 0.8 * (1.0 - process)


def quasi_static_infidelity(sigma: float, a: float) -> float:
    """Average one-qubit infidelity of exp(-i delta a Z / 2), delta ~ N(0, sigma^2)."""
    return (1.0 - math.exp(-0.5 * (sigma * a) ** 2)) / 3.0


def coherent_idle(plans: list[MomentPlan], target: Target, scale: float = 1.0) -> tuple[float, float]:
    """log of the static-ZZ and of the quasi-static-dephasing fidelity factors of the schedule
    (module docstring); both 0 where the target has neither term."""
    sigma = target.quasi_static_sigma() * scale
    couplers = {
        (a, b): scale * target.zz_rad_per_ns(a, b) for (a, b) in target.zz_khz if target.zz_rad_per_ns(a, b) != 0
    }
    if scale == 0 or (not couplers and not sigma.any()):
        return 0.0, 0.0
    by_qubit: dict[int, list[tuple[int, int]]] = {}
    for a, b in couplers:
        by_qubit.setdefault(a, []).append((a, b))
        by_qubit.setdefault(b, []).append((a, b))
    sign: dict[int, float] = {}
    own: dict[int, float] = {}  # qubit -> int s dt of its open segment
    pair: dict[tuple[int, int], list[float]] = {}  # coupler -> [A_a, A_b, A_ab] of its open segment
    log_zz = log_qs = 0.0

    def close_qubit(q: int) -> None:
        nonlocal log_qs
        log_qs += _log1m(quasi_static_infidelity(float(sigma[q]), own.pop(q, 0.0)))
        sign[q] = 1.0

    def close_pair(c: tuple[int, int]) -> None:
        nonlocal log_zz
        if c in pair:
            log_zz += _log1m(zz_pair_infidelity(couplers[c], *pair.pop(c)))

    touched: set[int] = set()
    for plan in plans:
        for name, qs in plan.ops:
            effect = _frame_effect(name)
            for q in qs:
                if effect == "flip":
                    sign[q] = -sign.get(q, 1.0)
                elif effect == "scramble":
                    close_qubit(q)
                    for c in by_qubit.get(q, ()):
                        close_pair(c)
        touched.update(plan.busy)
        for q, t in plan.idle:
            own[q] = own.get(q, 0.0) + sign.get(q, 1.0) * t
        for a, b in couplers:
            if a in touched and b in touched:
                t = plan.duration_ns - min(plan.busy.get(a, 0.0), plan.busy.get(b, 0.0))
                if t > 0:
                    sa, sb = sign.get(a, 1.0), sign.get(b, 1.0)
                    acc = pair.setdefault((a, b), [0.0, 0.0, 0.0])
                    acc[0] += sa * t
                    acc[1] += sb * t
                    acc[2] += sa * sb * t
    # what is still open is followed by no non-diagonal operation on its qubits: a diagonal
    # unitary just before the end does not change the measured distribution, so it is no error
    return log_zz, log_qs


def gate_name(op: cirq.Operation) -> str:
    """The IR name of a Cirq operation, as far as costs care: every Z rotation is an "rz"."""
    return "rz" if isinstance(op.gate, cirq.ZPowGate) else type(op.gate).__name__


def depolarizing_probability(r: float, n: int) -> float:
    d = 2**n
    return min(r * (d + 1) / d, (d * d - 1) / (d * d))


class TargetNoiseModel(cirq.NoiseModel):
    """The target's calibrated noise on a moment-structured circuit over ``qubits`` (physical order)."""

    def __init__(self, target: Target, qubits: list[cirq.Qid], scale: float = 1.0):
        self.target = target
        self.index = {q: i for i, q in enumerate(qubits)}
        self.scale = scale

    def noisy_moments(self, moments, system_qubits):
        moments = list(moments)
        ops_per_moment = [
            [(gate_name(op), tuple(self.index[q] for q in op.qubits)) for op in m if not cirq.is_measurement(op)]
            for m in moments
        ]
        plans = plan_moments(ops_per_moment, self.target)
        qubit_of = {i: q for q, i in self.index.items()}
        t1, tphi = self.target.decoherence_ns()
        out = []
        # Idle damping accumulates per qubit and is emitted only before the qubit's next operation
        # (and at the end): consecutive amplitude / phase damping channels on one qubit compose
        # exactly (1 - gamma multiplies, coherence factors multiply), and nothing else acts on the
        # qubit in between, so this is the same channel with far fewer trajectory steps.
        pending: dict[int, float] = {}

        def flush(qs) -> None:
            ops = []
            for q in qs:
                t = pending.pop(q, 0.0)
                if t <= 0:
                    continue
                gamma = 1.0 - math.exp(-self.scale * t / t1[q])
                lam = 1.0 - math.exp(-2.0 * self.scale * t / tphi[q])
                if gamma > 0:
                    ops.append(cirq.amplitude_damp(gamma).on(qubit_of[q]))
                if lam > 0:
                    ops.append(cirq.phase_damp(lam).on(qubit_of[q]))
            for layer in asap_layers(ops, _qubits):
                out.append(cirq.Moment(layer))

        for moment, plan in zip(moments, plans, strict=True):
            flush(sorted({self.index[q] for op in moment for q in op.qubits}))
            measurements = [op for op in moment if cirq.is_measurement(op)]
            if measurements:  # readout error as bit flips just before measuring
                flips = [
                    cirq.bit_flip(min(1.0, self.scale * float(self.target.readout_error[self.index[q]]))).on(q)
                    for op in measurements
                    for q in op.qubits
                ]
                out.append(cirq.Moment(f for f in flips if cirq.mixture(f)[0][0] < 1))
            out.append(cirq.Moment(op for op in moment))
            noise = []
            for qs, r in plan.errors:
                p = depolarizing_probability(min(1.0, self.scale * r), len(qs))
                if p > 0:
                    noise.append(cirq.depolarize(p, n_qubits=len(qs)).on(*(qubit_of[q] for q in qs)))
            for q, t in plan.idle:
                pending[q] = pending.get(q, 0.0) + t
            if noise:
                # one channel per qubit per moment layer keeps moments valid for qsim
                for layer in asap_layers(noise, _qubits):
                    out.append(cirq.Moment(layer))
        flush(sorted(pending))
        return out


def _qubits(op: cirq.Operation) -> tuple[cirq.Qid, ...]:
    return op.qubits
