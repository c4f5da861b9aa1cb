"""Dataset specialization of the encoding (ir/specialization.py): the dropped Gray steps are zero
for every admitted image, the kept ones reproduce the image's tree angles wherever they matter,
and images outside the zero set are named."""

from __future__ import annotations

import numpy as np
import pytest

from hqvit.ir.encoding import gray_inverse_matrix
from hqvit.ir.errors import InputError
from hqvit.ir.specialization import EncodingSpecialization

N = 6


def _images(rng: np.random.Generator, count: int = 40) -> np.ndarray:
    """Non-negative amplitude vectors that are zero on two whole subtrees and a few single
    amplitudes (a padded border, a dark corner)."""
    x = rng.uniform(0.0, 1.0, (count, 1 << N))
    x[:, 48:64] = 0.0  # the subtree of prefix 11 (level 2)
    x[:, 8:12] = 0.0  # prefix 0010 (level 4)
    x[:, [1, 3, 33]] = 0.0  # single amplitudes: last-level pairs half zero, no don't-care
    return x


def _alphas(x: np.ndarray, k: int) -> np.ndarray:
    if k == N - 1:
        pairs = x.reshape(len(x), 1 << k, 2)
        return 2 * np.arctan2(pairs[..., 1], pairs[..., 0])
    halves = np.sqrt((x * x).reshape(len(x), 1 << k, 2, -1).sum(-1))
    return 2 * np.arctan2(halves[..., 1], halves[..., 0])


def test_dropped_steps_vanish_and_kept_steps_reproduce_the_needed_angles():
    x = _images(np.random.default_rng(0))
    spec = EncodingSpecialization.from_amplitudes(x, "synthetic")
    assert spec.zero_amplitudes == tuple(sorted({*range(48, 64), *range(8, 12), 1, 3, 33}))
    zero_steps = spec.zero_steps()
    assert [len(s) for s in zero_steps] == [int(spec.dont_cares(k).sum()) for k in range(N)]
    assert spec.dropped_rotations == 0 + 0 + 1 + 2 + 5 + 10  # prefix 11 from level 2, 0010 from 4
    fresh = _images(np.random.default_rng(1), 10)  # images the specialization never saw
    for k in range(N):
        alpha = _alphas(fresh, k)
        theta = alpha @ spec.angle_map(k).T
        assert np.abs(theta[:, list(zero_steps[k])]).max(initial=0.0) == 0.0
        back = theta @ np.linalg.inv(gray_inverse_matrix(k)).T  # alpha = M_k theta
        needed = ~spec.dont_cares(k)
        np.testing.assert_allclose(back[:, needed], alpha[:, needed], atol=1e-12)


def test_nothing_is_dropped_without_empty_subtrees():
    x = np.random.default_rng(2).uniform(0, 1, (5, 1 << N))
    x[:, 7] = 0.0
    spec = EncodingSpecialization.from_amplitudes(x)
    assert spec.dropped_rotations == 0
    for k in range(N):
        np.testing.assert_array_equal(spec.angle_map(k), gray_inverse_matrix(k))


def test_images_outside_the_zero_set_are_named():
    rng = np.random.default_rng(3)
    spec = EncodingSpecialization.from_amplitudes(_images(rng), "synthetic")
    good = _images(rng, 4)
    spec.check(good)
    bad = good.copy()
    bad[2, 50] = 0.25
    assert spec.outside(bad) == [(2, 50)]
    with pytest.raises(InputError, match="image 2 is nonzero at amplitude 50.*synthetic"):
        spec.check(bad)


def test_serialized_specializations_are_validated():
    spec = EncodingSpecialization.from_amplitudes(_images(np.random.default_rng(4)), "synthetic")
    assert EncodingSpecialization.from_dict(spec.to_dict()) == spec
    with pytest.raises(InputError, match="amplitude indices"):
        EncodingSpecialization.from_dict({"num_qubits": 3, "zero_amplitudes": [8]})
    with pytest.raises(InputError, match="shape"):
        EncodingSpecialization.from_amplitudes(np.zeros((4, 6)))
