"""Rotation angles on a B-bit grid: rounding takes 2^B values, probabilistic interpolation is unbiased.

The statistical tests compare a sample mean with the exact value in units of its standard error
and accept |z| < 5 per entry: for the at most 256 entries compared at once a correct estimator
fails with probability < 256 · 5.7e-7 ≈ 1.5e-4 (seeds are fixed, so a run is reproducible). Each
comes with the check that the same tolerance rejects a biased estimator (rounding, or a naive
two-setting mix), so the tolerance is not so loose that it passes anything.
"""

import math

import numpy as np
import pytest
import torch

from hqvit.compiler.hqvit import HQViTConfig
from hqvit.runtime.angle_quantization import (
    angle_codes,
    from_codes,
    interpolation_weights,
    round_angles,
    sample_interpolated,
    step,
)
from hqvit.runtime.encoding import data_bindings
from hqvit.runtime.quantized_attention import QuantizedAngleAttention

Z_MAX = 5.0


def channel(theta) -> np.ndarray:
    """The RY rotation's superoperator U ⊗ U* (real for RY), for an angle or an array of angles
    (..., 4, 4): what every expectation value sees of the gate."""
    theta = np.asarray(theta, dtype=np.float64)
    c, s = np.cos(theta / 2), np.sin(theta / 2)
    u = np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)
    return np.einsum("...ab,...cd->...acbd", u, u).reshape(*theta.shape, 4, 4)


@pytest.mark.parametrize("bits", [2, 4, 8, 12])
def test_rounded_angles_take_only_2_to_the_b_levels(bits, rng):
    theta = rng.uniform(-20, 20, 50_000)
    codes = angle_codes(theta, bits)
    assert codes.min() >= 0 and codes.max() < 2**bits
    rounded = round_angles(theta, bits)
    assert len(np.unique(rounded)) <= 2**bits
    assert np.array_equal(rounded, from_codes(codes, bits))  # exactly k·Δ
    err = np.abs(np.remainder(rounded - theta + math.pi, 2 * math.pi) - math.pi)
    assert err.max() <= step(bits) / 2 + 1e-12


@pytest.mark.parametrize("bits", [2, 4, 8])
def test_interpolation_settings_are_grid_angles_and_reproduce_the_channel_exactly(bits, rng):
    theta = rng.uniform(-10, 10, 2000)
    settings, weights = interpolation_weights(theta, bits)
    k = settings / step(bits)
    assert np.allclose(k, np.round(k), atol=1e-9) and k.min() > -1e-9 and k.max() < 2**bits
    assert np.allclose(weights.sum(-1), 1.0, atol=1e-12)
    assert (weights[:, :2] >= 0).all() and (weights[:, 2] <= 1e-15).all()
    for t, s, w in zip(theta[:50], settings[:50], weights[:50], strict=True):
        mix = sum(wk * channel(sk) for wk, sk in zip(w, s, strict=True))
        assert np.abs(mix - channel(t)).max() < 1e-12


def _z(samples: np.ndarray, exact: np.ndarray) -> np.ndarray:
    """|mean − exact| / standard error, entry by entry (standard error floored at 1e-12)."""
    se = samples.std(axis=0, ddof=1) / math.sqrt(len(samples))
    return np.abs(samples.mean(axis=0) - exact) / np.maximum(se, 1e-12)


def test_interpolated_rotation_is_unbiased_and_rounding_is_not():
    """The mean channel of PAI draws equals the exact rotation's within sampling error (|z| < 5);
    rounding, and a two-setting mix with the linear-interpolation probabilities, do not."""
    rng = np.random.default_rng(7)
    bits, n = 4, 20_000
    delta = step(bits)
    for theta in (0.3 * delta, 0.5 * delta, 3.71, -2.2):
        exact = channel(theta)
        angles, factor = sample_interpolated(np.full((n, 1), theta), bits, rng)
        draws = factor[:, None, None] * channel(angles[:, 0])
        assert _z(draws.reshape(n, -1), exact.ravel()).max() < Z_MAX
        # rounding is a deterministic, coherent error: far outside the tolerance
        assert np.abs(channel(round_angles(np.array(theta), bits)) - exact).max() > 1e-3
        # two neighbours with p = x/Δ have the right mean angle but the mean channel lies on the chord
        low = math.floor(theta / delta) * delta
        pick_high = rng.random(n) < (theta - low) / delta
        naive = channel(low + delta * pick_high).reshape(n, -1)
        assert _z(naive, exact.ravel()).max() > Z_MAX


@pytest.mark.parametrize("engine", ["closed-form", "qsim"])
def test_interpolated_circuit_distribution_is_unbiased(engine):
    """Every rotation of a compiled circuit (4x4 image, 2x2 patches: 8 qubits, data and trainable
    angles) interpolated at 4 bits: the factor-weighted mean of the drawn circuits' exact
    P(a, i, j) equals the exact circuit's, entry by entry (|z| < 5); rounding is rejected."""
    cfg = HQViTConfig((4, 4), (2, 2), layers=1)
    rng = np.random.default_rng(3)
    backend = QuantizedAngleAttention(
        cfg, bits=4, mode="interpolate", samples=10, seed=11, closed_form_check=engine == "closed-form"
    )
    assert backend.engine == engine
    ex = backend.executor
    tokens = torch.as_tensor(rng.uniform(0, 1, (1, cfg.tokens, cfg.features)))
    data = data_bindings(tokens)[0].numpy()
    params = rng.uniform(-math.pi, math.pi, (1, len(cfg.trainable_symbols())))
    prefix = ex.prefix.table.bind(ex.symbol_vector(data, params[0]))
    suffix = ex.suffix.table.bind(ex.symbol_vector(data[None], params))
    exact = backend.readout.joint(ex.suffix_probabilities(ex.prefix_state(prefix), suffix))[0].ravel()
    # each call averages 10 independent draws: 400 i.i.d. means of 10, so the z-test is unchanged
    draws = np.stack([backend._interpolate(prefix, suffix)[0].ravel() for _ in range(400)])
    assert _z(draws, exact).max() < Z_MAX
    assert np.abs(draws.mean(0) - exact).max() < 0.02  # and close in absolute terms
    rounded = backend._round(prefix, suffix)[0].ravel()
    assert _z(draws, rounded).max() > Z_MAX


def test_round_backend_converges_to_the_exact_scores():
    cfg = HQViTConfig((4, 4), (2, 2), layers=1)
    rng = np.random.default_rng(5)
    tokens = torch.as_tensor(rng.uniform(0, 1, (3, cfg.tokens, cfg.features)))
    data = data_bindings(tokens).numpy()
    params = rng.uniform(-math.pi, math.pi, (2, len(cfg.trainable_symbols())))
    valid = np.ones((3, cfg.tokens), dtype=bool)
    fine = QuantizedAngleAttention(cfg, bits=24, mode="round")
    exact, _ = fine.exact.forward(data, params, valid)
    s24, _ = fine.forward(data, params, valid)
    s4, _ = QuantizedAngleAttention(cfg, bits=4, mode="round").forward(data, params, valid)
    assert np.abs(s24 - exact).max() < 1e-5
    assert np.abs(s4 - exact).max() > 1e-3


@pytest.mark.parametrize("mode", ["round", "interpolate"])
def test_closed_form_gives_the_simulated_scores(mode):
    """Quantized circuits in closed form (one Möttönen tree per copy and one ansatz per unitary,
    each with its own drawn angles) and simulated gate by gate on qsim give the same S for the
    same draws."""
    cfg = HQViTConfig((8, 8), (4, 4), heads=2)
    rng = np.random.default_rng(9)
    tokens = torch.as_tensor(rng.uniform(0, 1, (3, cfg.tokens, cfg.features)))
    tokens[0, 1] = 0  # a masked token
    data = data_bindings(tokens).numpy()
    params = rng.uniform(-math.pi, math.pi, (2, len(cfg.trainable_symbols())))
    valid = (tokens**2).sum(-1).numpy() > 0
    closed = QuantizedAngleAttention(cfg, 5, mode, samples=3, seed=4)
    simulated = QuantizedAngleAttention(cfg, 5, mode, samples=3, seed=4, closed_form_check=False)
    assert closed.engine == "closed-form" and simulated.engine == "qsim"
    s_closed, m_closed = closed.forward(data, params, valid)
    s_sim, m_sim = simulated.forward(data, params, valid)
    assert np.array_equal(m_closed, m_sim)
    assert np.abs(s_closed - s_sim).max() < 1e-5
