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
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cirq

from hqvit.ir.metrics import asap_layers
from hqvit.targets.target import Target


@dataclass
class MomentPlan:
    duration_ns: float
    errors: list[tuple[tuple[int, ...], float]] = field(default_factory=list)  # (qubits, infidelity r)
    idle: list[tuple[int, float]] = field(default_factory=list)  # (qubit, ns)


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
        plan = MomentPlan(duration)
        busy: dict[int, float] = {}
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


def esp(plans: list[MomentPlan], measured: tuple[int, ...], target: Target, scale: float = 1.0) -> dict:
    log_gate = sum(math.log1p(-min(1.0, scale * r)) if scale * r < 1 else -math.inf for p in plans for _, r in p.errors)
    t1, tphi = target.decoherence_ns()
    log_idle = -scale * sum(t / t1[q] + t / tphi[q] for p in plans for q, t in p.idle)
    ro = [min(1.0, scale * target.readout_error[q]) for q in measured]
    log_ro = sum(math.log1p(-r) if r < 1 else -math.inf for r in ro)
    return {
        "esp": math.exp(log_gate + log_idle + log_ro),
        "fidelity_estimate": math.exp(log_gate + log_idle / 3 + log_ro),
        "esp_gates": math.exp(log_gate),
        "esp_idle": math.exp(log_idle),
        "esp_readout": math.exp(log_ro),
        "duration_ns": sum(p.duration_ns for p in plans),
    }


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
