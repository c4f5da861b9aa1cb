"""The coherent idle factors of ``fidelity_estimate_coherent`` (targets/noise.py) against the
average fidelity of the exact idle unitaries, computed here from matrices (no toggling frame)."""

import math
from dataclasses import replace

import numpy as np
import pytest
from scipy.linalg import expm

from hqvit.targets import resolve_target
from hqvit.targets.noise import coherent_idle, esp, plan_moments

X = np.array([[0, 1], [1, 0]], dtype=complex)
I2 = np.eye(2)


def _average_infidelity(u: np.ndarray) -> float:
    """1 - average gate fidelity of ``u`` against the identity: 1 - (d + |tr u|^2) / (d (d + 1))."""
    d = u.shape[0]
    return 1.0 - (d + abs(np.trace(u)) ** 2) / (d * (d + 1))


def _target(zz_khz: float = 0.0, t2star: float | None = None):
    """line:4 with ZZ on the (0, 1) coupler only and T2* < T2 on qubit 0 only (the idle time
    comes from a cx on (2, 3), which must add nothing of its own)."""
    t = resolve_target("line:4")
    t2star_us = t.t2_us.copy()
    if t2star:
        t2star_us[0] = t2star
    return replace(t, zz_khz={(0, 1): zz_khz} if zz_khz else {}, t2star_us=t2star_us)


def _logs(target, moments):
    return coherent_idle(plan_moments(moments, target), target)


LONG = [("cx", (2, 3))]  # a moment in which qubits 0 and 1 idle for the cx's duration


def test_quasi_static_segment_is_the_averaged_rotation():
    """sx, an idle of length D, sx: the factor is E over delta ~ N(0, sigma^2) of the average
    fidelity of exp(-i delta D Z / 2), here by Gauss-Hermite quadrature of the exact unitary."""
    target = _target(t2star=0.5)
    d = target.gate_duration("cx", (2, 3))
    sigma = float(target.quasi_static_sigma()[0])
    log_zz, log_qs = _logs(target, [[("sx", (0,))], LONG, LONG, [("sx", (0,))]])
    nodes, weights = np.polynomial.hermite_e.hermegauss(60)  # weight exp(-x^2 / 2)
    infid = sum(
        w * _average_infidelity(expm(-0.5j * sigma * x * 2 * d * np.diag([1.0, -1.0])))
        for x, w in zip(nodes, weights, strict=True)
    ) / math.sqrt(2 * math.pi)
    assert 0.05 < infid < 0.5  # the test is not vacuous: a real dephasing
    assert log_zz == 0.0 and math.exp(log_qs) == pytest.approx(1 - infid, rel=1e-9)


def test_quasi_static_echo_refocuses_and_a_tail_costs_nothing():
    """An x pulse halfway refocuses the detuning exactly (Hahn echo); without the closing sx the
    phase is a diagonal before the end and costs nothing."""
    target = _target(t2star=0.5)
    echo = [[("sx", (0,))], LONG, [("x", (0,))], LONG, [("x", (0,))], [("sx", (0,))]]
    assert _logs(target, echo)[1] == 0.0
    assert _logs(target, [[("sx", (0,))], LONG, LONG])[1] == 0.0
    assert _logs(target, [[("sx", (0,))], LONG, [("sx", (0,))], LONG, [("sx", (0,))]])[1] < -0.05


def _zz(t: float, zeta: float) -> np.ndarray:
    """exp(-i zeta t |11><11|) on qubits (0, 1), qubit 0 the more significant."""
    return expm(-1j * zeta * t * np.diag([0.0, 0.0, 0.0, 1.0]))


@pytest.mark.parametrize("pulses", [False, True])
def test_zz_segment_is_the_exact_idle_unitary(pulses):
    """Two touched neighbours idle between two sx layers; with ``pulses``, qubit 0 plays x, idle,
    x in between. The factor equals the average fidelity of the product of the engine's per-moment
    ZZ unitaries and the ideal pulses, multiplied out as matrices in time order: each moment's ZZ
    acts for the part where at least one of the pair idles, after the moment's operations."""
    zeta_khz = 400.0
    target = _target(zz_khz=zeta_khz)
    zeta = target.zz_rad_per_ns(0, 1)
    d, dx = target.gate_duration("cx", (2, 3)), target.gate_duration("x", (0,))
    both = [("sx", (0,)), ("sx", (1,))]
    middle = [LONG, [("x", (0,))], LONG, [("x", (0,))]] if pulses else [LONG, LONG]
    log_zz, log_qs = _logs(target, [both, *middle, both])
    u = np.eye(4, dtype=complex)
    for moment in middle:
        if moment == LONG:
            u = _zz(d, zeta) @ u
        else:  # x on qubit 0 for dx while qubit 1 idles: the pulse, then dx of ZZ
            u = _zz(dx, zeta) @ np.kron(X, I2) @ u
    infid = _average_infidelity(u)
    assert infid > (1e-4 if pulses else 0.05)
    assert log_qs == 0.0 and math.exp(log_zz) == pytest.approx(1 - infid, rel=1e-9, abs=1e-12)


def test_without_the_terms_the_coherent_estimate_is_the_markovian_one():
    """@zz=0 with T2* = T2: no factor, and fidelity_estimate_coherent is fidelity_estimate."""
    target = resolve_target("ibm-sherbrooke@zz=0,t2star_ratio=1")
    moments = [[("sx", (0,)), ("sx", (1,))], [("ecr", (1, 2))], [("sx", (0,))], [("ecr", (0, 1))]]
    e = esp(plan_moments(moments, target), (0, 1), target)
    assert e["idle_zz"] == 1.0 and e["idle_quasi_static"] == 1.0
    assert e["fidelity_estimate_coherent"] == e["fidelity_estimate"]
    on = resolve_target("ibm-sherbrooke")
    e_on = esp(plan_moments(moments, on), (0, 1), on)
    assert e_on["idle_zz"] < 1.0 and e_on["fidelity_estimate_coherent"] < e_on["fidelity_estimate"]


def test_the_compilers_ranking_reads_the_same_markovian_figures_without_the_coherent_terms():
    """``coherent=False`` (what candidate ranking asks for) leaves every other figure unchanged."""
    on = resolve_target("ibm-sherbrooke")
    moments = [[("sx", (0,)), ("sx", (1,))], [("ecr", (1, 2))], [("sx", (0,))], [("ecr", (0, 1))]]
    full = esp(plan_moments(moments, on), (0, 1), on)
    fast = esp(plan_moments(moments, on), (0, 1), on, coherent=False)
    assert "idle_zz" not in fast and "fidelity_estimate_coherent" not in fast
    assert fast == {k: v for k, v in full.items() if k in fast}
