"""Rotation angles on a B-bit grid of 2π: rounding, and probabilistic angle interpolation (PAI).

Control electronics with B bits of resolution can set 2^B angles per rotation gate,
θ_k = k·Δ with Δ = 2π / 2^B, k = 0 .. 2^B − 1. Angles are taken mod 2π: for the rotations the
compiled circuits use (R_P(θ) = exp(−iθP/2), P ∈ {X, Y, Z}) R_P(θ + 2π) = −R_P(θ), a global
phase, so the grid over [0, 2π) loses nothing.

``round``: every angle to its nearest grid point. A deterministic, coherent error of up to Δ/2
per gate.

``interpolate`` (Koczor, Morton, Benjamin, PRL 132, 130602 (2024)): what an expectation value
sees of a gate is its channel, and for a rotation the channel is affine in (cos θ, sin θ):

    R(θ) ρ R(θ)† = (1 + cos θ)/2 · ρ + (1 − cos θ)/2 · PρP − (i/2) sin θ · [P, ρ].

So a quasi-probability mix Σ w_k E_{θ_k} equals E_θ exactly iff Σ w_k = 1 and
Σ w_k (cos θ_k, sin θ_k) = (cos θ, sin θ). No mix of grid angles with *positive* weights can do
it (a point of the unit circle is not a convex combination of other points of it: the mean of
two neighbouring settings always lies on the chord, inside the circle), so three settings are
used: the neighbours a = ⌊θ/Δ⌋Δ, b = a + Δ, and c = a + π (on the grid for B ≥ 1). With
u(φ) = (cos φ, sin φ), u(θ) = α u(a) + β u(b) for α = sin(b − θ)/sin Δ, β = sin(θ − a)/sin Δ
(both ≥ 0), and since u(c) = −u(a):

    w_a = (1 + α − β)/2 ≥ 0,   w_b = β ≥ 0,   w_c = (1 − α − β)/2 ≤ 0,

which sum to 1 and reproduce u(θ). A gate is run at setting k with probability |w_k| / γ,
γ = |w_a| + |w_b| + |w_c| = α + β, and its outcome is weighted by γ·sign(w_k); the product of
these factors over the gates of one circuit run (``factor``) makes the weighted mean of any
measured probability equal to the exact circuit's, because the circuit's output is linear in
each gate's channel and the gates are sampled independently. γ is the least possible ℓ1 norm
(α + β is the gauge norm of u(θ) for the grid polygon), at most 1/cos(Δ/2) per gate; the price
is variance: a sampled estimate needs about (Π γ)² times the shots of an exact-angle one.
"""

from __future__ import annotations

import math

import numpy as np

ANGLE_MODES = ("round", "interpolate")
TWO_PI = 2.0 * math.pi


def step(bits: int) -> float:
    """Grid spacing Δ = 2π / 2^B."""
    return TWO_PI / (1 << bits)


def angle_codes(theta: np.ndarray, bits: int) -> np.ndarray:
    """The nearest grid index k ∈ [0, 2^B) of each angle (ties to even, then wrapped mod 2^B)."""
    return np.mod(np.rint(np.asarray(theta, dtype=np.float64) / step(bits)), 1 << bits).astype(np.int64)


def from_codes(codes: np.ndarray, bits: int) -> np.ndarray:
    """Grid angles k·Δ in [0, 2π)."""
    return np.asarray(codes, dtype=np.float64) * step(bits)


def round_angles(theta: np.ndarray, bits: int) -> np.ndarray:
    """Every angle to its nearest of the 2^B grid angles (in [0, 2π))."""
    return from_codes(angle_codes(theta, bits), bits)


def interpolation_weights(theta: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """(..., ) angles -> settings (..., 3) on the grid (a, b, a + π) and their quasi-probabilities
    (..., 3), which sum to 1 and reproduce (cos θ, sin θ) exactly (module docstring)."""
    if bits < 2:
        raise ValueError("interpolation needs at least 2 bits (neighbours less than π apart)")
    delta = step(bits)
    theta = np.mod(np.asarray(theta, dtype=np.float64), TWO_PI)
    low = np.floor(theta / delta)
    x = theta - low * delta  # in [0, Δ)
    alpha = np.sin(delta - x) / math.sin(delta)
    beta = np.sin(x) / math.sin(delta)
    a = low * delta
    settings = np.stack([a, a + delta, a + math.pi], axis=-1)
    weights = np.stack([(1 + alpha - beta) / 2, beta, (1 - alpha - beta) / 2], axis=-1)
    return np.mod(settings, TWO_PI), weights


def sample_settings(theta: np.ndarray, bits: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One PAI draw for every angle, gate by gate: (grid angles, γ·sign(w_k)), both shaped like
    ``theta``. Callers that share one gate's draw between circuit runs (heads that share the
    encode segment) multiply the per-gate factors themselves."""
    settings, weights = interpolation_weights(theta, bits)
    gamma = np.abs(weights).sum(-1)
    cumulative = np.cumsum(np.abs(weights), axis=-1) / gamma[..., None]
    u = rng.random(gamma.shape)
    pick = (u[..., None] >= cumulative).sum(-1).clip(0, 2)  # index k with probability |w_k| / γ
    chosen = np.take_along_axis(settings, pick[..., None], -1)[..., 0]
    sign = np.sign(np.take_along_axis(weights, pick[..., None], -1)[..., 0])
    return chosen, gamma * sign


def sample_interpolated(theta: np.ndarray, bits: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One PAI draw for every angle. ``theta`` (K, G): K circuit runs of G gate angles ->
    (grid angles (K, G), factor (K,)), factor = Π over the run's gates of γ·sign(w_k): the
    weight of that run's outcome in an unbiased estimate."""
    chosen, gate_factor = sample_settings(theta, bits, rng)
    return chosen, np.prod(gate_factor, axis=-1)


def sampling_overhead(theta: np.ndarray, bits: int) -> np.ndarray:
    """(Π γ)² per run ((K, G) -> (K,)): how many times the shots of an exact-angle circuit a PAI
    estimate of the same variance needs (the PRL's measure of cost)."""
    _, weights = interpolation_weights(theta, bits)
    return np.prod(np.abs(weights).sum(-1), axis=-1) ** 2
