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

import math
from dataclasses import dataclass, field

import cirq
import numpy as np

from hqvit.ir.gates import gate_spec
from hqvit.ir.metrics import asap_layers
from hqvit.targets.target import Target


@dataclass
class MomentPlan:
    duration_ns: float
    errors: list[tuple[tuple[int, ...], float]] = field(default_factory=list)  # (qubits, infidelity r)
    idle: list[tuple[int, float]] = field(default_factory=list)  # (qubit, ns)
    ops: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)  # (gate name, qubits)
    busy: dict[int, float] = field(default_factory=dict)  # qubit -> its operation's ns


def plan_moments(moments: list[list[tuple[str, tuple[int, ...]]]], target: Target) -> list[MomentPlan]:
    """``moments``: per moment, the (gate name, physical qubits) of each operation.

    What each operation costs is the target's decision (Target.gate_error / gate_duration), so
    ESP, the noise model, the scheduler and the benchmark scoring cannot disagree about it.
    """
    touched: set[int] = set()
    plans = []
    for ops in moments:
        costs = [(qs, target.gate_error(name, qs), target.gate_duration(name, qs)) for name, qs in ops]
        duration = max((d for _, _, d in costs), default=0.0)
        plan = MomentPlan(duration, ops=list(ops))
        busy = plan.busy
        for qs, r, d in costs:
            plan.errors.append((qs, r))
            for q in qs:
                busy[q] = d
        touched.update(busy)
        for q in sorted(touched):
            t = duration - busy.get(q, 0.0)
            if t > 0:
                plan.idle.append((q, t))
        plans.append(plan)
    return plans


def esp(
    plans: list[MomentPlan], measured: tuple[int, ...], target: Target, scale: float = 1.0, coherent: bool = True
) -> dict:
    log_gate = sum(math.log1p(-min(1.0, scale * r)) if scale * r < 1 else -math.inf for p in plans for _, r in p.errors)
    t1, tphi = target.decoherence_ns()
    log_idle = -scale * sum(t / t1[q] + t / tphi[q] for p in plans for q, t in p.idle)
    ro = [min(1.0, scale * target.readout_error[q]) for q in measured]
    log_ro = sum(math.log1p(-r) if r < 1 else -math.inf for r in ro)
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
