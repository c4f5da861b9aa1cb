"""Quantized rotation angles under a target's calibrated noise (``NoisyQuantizedAttention``).

The statistical test follows ``test_angle_quantization``: |z| < 5 per entry of P(a, i, j) for a
correct estimator (64 entries: false failure < 64 · 5.7e-7), and the same tolerance rejects the
biased estimators it must catch, so it is not loose enough to pass anything. Seeds are fixed.
"""

import math

import numpy as np
import pytest
import torch

from hqvit.compiler.hqvit import HQViTConfig
from hqvit.compiler.pipeline import compile_hqvit
from hqvit.runtime.encoding import data_bindings
from hqvit.runtime.noisy_attention import NoisyAttention
from hqvit.runtime.noisy_quantized import NoisyQuantizedAttention
from hqvit.runtime.quantized_attention import QuantizedAngleAttention
from hqvit.targets import resolve_target

Z_MAX = 5.0
CFG = HQViTConfig((4, 4), (2, 2), layers=1, heads=2)


@pytest.fixture(scope="module")
def torino():
    """The 8-qubit circuit compiled for ibm-torino (under a second)."""
    return compile_hqvit(CFG, resolve_target("ibm-torino"), opt=2, seed=0)


def _binding(seed: int, images: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    tokens = torch.as_tensor(rng.uniform(0, 1, (images, CFG.tokens, CFG.features)))
    data = data_bindings(tokens).numpy()
    params = rng.uniform(-math.pi, math.pi, (CFG.heads, len(CFG.trainable_symbols())))
    return data, params, np.ones((images, CFG.tokens), dtype=bool)


def _joint(backend: NoisyAttention, per_trajectory: np.ndarray) -> np.ndarray:
    """(H, R, 2^n) -> (R, H·2·T·T): every trajectory's P(a, i, j) of every head."""
    h, r, size = per_trajectory.shape
    joint = backend.readout.joint(per_trajectory.reshape(h * r, size)).reshape(h, r, -1)
    return joint.transpose(1, 0, 2).reshape(r, -1)


def _z(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|mean(a) − mean(b)| over their combined standard error, entry by entry (floored at 1e-12)."""
    se = np.sqrt(a.var(axis=0, ddof=1) / len(a) + b.var(axis=0, ddof=1) / len(b))
    return np.abs(a.mean(axis=0) - b.mean(axis=0)) / np.maximum(se, 1e-12)


def test_interpolation_is_unbiased_under_noise_and_rounding_is_not(torino):
    """4-bit PAI, one setting per trajectory, under ibm-torino's calibrated noise (depolarizing,
    state-dependent damping, static ZZ, quasi-static detunings, two heads sharing the encode
    segment): the factor-weighted trajectory mean of P(a, i, j) equals the noisy circuit's at the
    exact angles (estimated by many trajectories of the unquantized engine); rounding is rejected."""
    data, params, _ = _binding(21)
    exact_engine = NoisyAttention(CFG, torino, 1.0, 6000, None, 0)
    exact = _joint(exact_engine, exact_engine._trajectories(data[0], params, 1, False)[0])
    pai = NoisyQuantizedAttention(CFG, torino, 1.0, 4, "interpolate", 1500, 0)
    draws = _joint(pai, pai._trajectories(data[0], params, 2, False)[0])
    assert _z(draws, exact).max() < Z_MAX
    rounding = NoisyQuantizedAttention(CFG, torino, 1.0, 4, "round", 1500, 0)
    rounded = _joint(rounding, rounding._trajectories(data[0], params, 2, False)[0])
    assert _z(rounded, exact).max() > Z_MAX


def test_scale_zero_reproduces_the_noiseless_quantized_scores(torino):
    """At noise scale 0 every trajectory is the noiseless circuit: rounded angles give the
    noiseless backend's S on the same compiled circuit to float32 rounding, and the target's grid
    settings are the logical circuit's (each gate angle is a symbol plus a multiple of π)."""
    data, params, valid = _binding(8, images=3)
    noisy, _ = NoisyQuantizedAttention(CFG, torino, 0.0, 5, "round", 2, 0).forward(data, params, valid)
    same_circuit, _ = QuantizedAngleAttention(CFG, 5, "round", compiled=torino).forward(data, params, valid)
    logical, _ = QuantizedAngleAttention(CFG, 5, "round").forward(data, params, valid)
    exact, _ = QuantizedAngleAttention(CFG, 24, "round").forward(data, params, valid)
    assert np.abs(noisy - same_circuit).max() < 1e-5
    assert np.abs(noisy - logical).max() < 1e-5
    assert np.abs(noisy - exact).max() > 1e-3  # 5 bits do move S


def test_quantized_backend_keeps_the_noise_draws_of_the_plain_engine(torino):
    """At 24 bits the rounded angles are the exact ones to 4e-7 rad: with the same seed the
    quantized backend gives the plain NoisyAttention's S (same noise draws, same trajectories)."""
    data, params, valid = _binding(4, images=2)
    plain, _ = NoisyAttention(CFG, torino, 1.0, 8, None, 5).forward(data, params, valid)
    fine, _ = NoisyQuantizedAttention(CFG, torino, 1.0, 24, "round", 8, 5).forward(data, params, valid)
    coarse, _ = NoisyQuantizedAttention(CFG, torino, 1.0, 3, "round", 8, 5).forward(data, params, valid)
    assert np.abs(fine - plain).max() < 1e-4
    assert np.abs(coarse - plain).max() > 1e-3


def test_quantized_angles_have_no_gradient(torino):
    data, params, valid = _binding(4)
    backend = NoisyQuantizedAttention(CFG, torino, 1.0, 6, "round", 2, 0)
    with pytest.raises(ValueError, match="no gradient"):
        backend.vjp(data, params, valid, np.zeros((1, CFG.heads, CFG.tokens, CFG.tokens)), False)


def test_heads_share_the_encode_segments_draw(torino):
    """The engine runs the blocks before the first trainable rotation once, with head 0's
    matrices: those gates must get one draw (setting and factor) for all heads, or the other
    heads' weights would not belong to the settings they ran (a bias of about 4 standard errors
    at 1500 trajectories in the test above, too small for it to catch reliably)."""
    data, params, _ = _binding(3)
    backend = NoisyQuantizedAttention(CFG, torino, 1.0, 4, "interpolate", 2, 0)
    p = backend.program
    end = p.block_start[backend.engine.split]
    rotations = (p.elem_kind[:end] >= 1) & (p.elem_kind[:end] <= 3)
    assert set(backend.shared) == set(p.elem_slot[:end][rotations]) and len(backend.shared) > 0
    assert not p.slot_trainable[backend.shared].any()  # the same angle for every head
    angles = p.bind(np.concatenate([np.broadcast_to(data[0], (CFG.heads, data.shape[1])), params], axis=1))
    rng = np.random.default_rng(0)
    for _ in range(20):
        chosen, _ = backend.draw(angles, rng)
        assert np.array_equal(chosen[0, backend.shared], chosen[1, backend.shared])
    # and the weights: with every gate but the shared ones on the grid already, both heads'
    # factors are the shared gates' product, hence equal
    on_grid = angles.copy()
    rest = np.setdiff1d(np.arange(angles.shape[1]), backend.shared)
    on_grid[:, rest] = 0.0
    for _ in range(20):
        _, factor = backend.draw(on_grid, rng)
        assert factor[0] == factor[1]
