"""Every lowering against an independent reference."""

import numpy as np
import pytest
import torch

from hqvit.ir.circuit import AmplitudeEncode, Ansatz, Circuit, Segment, SwapTest
from hqvit.ir.encoding import encoding_symbols
from hqvit.passes.lower import lower, lower_amplitude_encode
from hqvit.runtime.encoding import encoding_angles
from hqvit.runtime.exact import ansatz_unitary
from tests.helpers import assert_equivalent, state_of, unitary_of


def _encode_circuit(n: int) -> Circuit:
    return Circuit(
        n, [Segment("encode", [AmplitudeEncode(tuple(range(n)), "x")])], {s: "data" for s in encoding_symbols("x", n)}
    )


@pytest.mark.parametrize("n", [1, 2, 3, 4, 6])
@pytest.mark.parametrize("kind", ["positive", "signed", "sparse"])
def test_amplitude_encoding_prepares_the_normalized_vector(n, kind, rng):
    x = rng.normal(size=1 << n)
    if kind == "positive":
        x = np.abs(x)
    if kind == "sparse":  # zero sub-trees, as at MNIST borders
        x = np.abs(x) * (rng.uniform(size=x.size) < 0.3)
        x[rng.integers(x.size)] = 1.0
    circuit = lower(_encode_circuit(n))
    angles = encoding_angles(torch.tensor(x[None, :]))[0].numpy()
    state = state_of(circuit, dict(zip(encoding_symbols("x", n), angles, strict=True)))
    np.testing.assert_allclose(state.real, x / np.linalg.norm(x), atol=1e-10)
    np.testing.assert_allclose(state.imag, 0, atol=1e-10)


@pytest.mark.parametrize("n", range(1, 9))
def test_encoding_uses_2_to_the_n_minus_2_cnots(n):
    gates = lower_amplitude_encode(AmplitudeEncode(tuple(range(n)), "x"))
    assert sum(g.name == "cx" for g in gates) == 2**n - 2
    assert sum(g.name == "ry" for g in gates) == 2**n - 1


@pytest.mark.parametrize("m,layers", [(2, 1), (3, 2), (4, 3)])
def test_ansatz_lowering_matches_its_matrix(m, layers, rng):
    circuit = lower(Circuit(m, [Segment("t", [Ansatz(tuple(range(m)), layers, "q")])]))
    theta = rng.uniform(-np.pi, np.pi, size=(layers, m))
    bindings = {f"q{la}_{q}": theta[la, q] for la in range(layers) for q in range(m)}
    want = ansatz_unitary(torch.tensor(theta)).numpy()
    assert_equivalent(circuit, want, bindings=bindings, atol=1e-10, up_to_phase=False)


def _swap_test_probs(m: int, lowering: str, state: np.ndarray) -> np.ndarray:
    """P(bit) for the swap test between registers A = 0..m-1 and B = m..2m-1 of ``state``."""
    anc = 2 * m if lowering == "cswap" else None
    n = 2 * m + (1 if anc is not None else 0)
    circuit = lower(Circuit(n, [Segment("r", [SwapTest(tuple(range(m)), tuple(range(m, 2 * m)), lowering, anc)])]))
    full = np.kron(state, [1, 0]) if anc is not None else state
    out = unitary_of(circuit, {}) @ full
    p = np.abs(out.reshape((2,) * n)) ** 2
    if anc is not None:
        return p.sum(axis=tuple(range(2 * m)))
    p = p.reshape(1 << m, 1 << m)
    parity = np.array([[bin(a & b).count("1") & 1 for b in range(1 << m)] for a in range(1 << m)])
    return np.array([p[parity == 0].sum(), p[parity == 1].sum()])


@pytest.mark.parametrize("lowering", ["bell", "cswap"])
@pytest.mark.parametrize("m", [1, 2, 3])
def test_swap_test_lowerings_give_the_overlap(lowering, m, rng):
    a = rng.normal(size=1 << m) + 1j * rng.normal(size=1 << m)
    b = rng.normal(size=1 << m) + 1j * rng.normal(size=1 << m)
    a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    p0, p1 = _swap_test_probs(m, lowering, np.kron(a, b))
    overlap = abs(np.vdot(a, b)) ** 2
    assert p0 == pytest.approx((1 + overlap) / 2, abs=1e-10)
    assert p1 == pytest.approx((1 - overlap) / 2, abs=1e-10)


@pytest.mark.parametrize("m", [1, 2, 3])
def test_swap_test_lowerings_agree_on_entangled_states(m, rng):
    psi = rng.normal(size=1 << (2 * m)) + 1j * rng.normal(size=1 << (2 * m))
    psi /= np.linalg.norm(psi)
    np.testing.assert_allclose(_swap_test_probs(m, "bell", psi), _swap_test_probs(m, "cswap", psi), atol=1e-12)
