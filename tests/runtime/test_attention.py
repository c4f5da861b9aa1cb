"""Compiled HQViT circuits on qsim reproduce the closed-form attention matrix to 1e-5."""

import numpy as np
import pytest
import torch

from hqvit.compiler.hqvit import HQViTConfig
from hqvit.runtime.data import load_dataset
from hqvit.runtime.encoding import tokens_from_images
from hqvit.runtime.exact import exact_attention
from hqvit.runtime.quantum_attention import QsimAttention, qsim_attention
from hqvit.runtime.readout import attention_from_joint


def _max_error(cfg: HQViTConfig, dataset: str, samples: int, seed: int = 0) -> float:
    ds = load_dataset(dataset, cfg.image)
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(ds.labels), samples, replace=False)
    tokens = tokens_from_images(ds.images[pick].double(), cfg)
    params = torch.as_tensor(rng.uniform(-np.pi, np.pi, (cfg.heads, len(cfg.trainable_symbols()))))
    with torch.no_grad():
        s_q, mask = qsim_attention(tokens, params, QsimAttention(cfg))
        s_e, valid = exact_attention(tokens, params, cfg)
    assert torch.equal(mask, valid)
    return float((s_q - s_e).abs().max())


@pytest.mark.parametrize("swap_test", ["bell", "cswap"])
@pytest.mark.parametrize("patch", [(4, 4), (2, 2)])
def test_digits_8x8(swap_test, patch):
    cfg = HQViTConfig((8, 8), patch, layers=2, heads=2, swap_test=swap_test)
    assert _max_error(cfg, "digits", 16) <= 1e-5


@pytest.mark.parametrize("swap_test", ["bell", "cswap"])
def test_mnist_16x16(swap_test):
    cfg = HQViTConfig((16, 16), (4, 4), layers=2, swap_test=swap_test)
    assert _max_error(cfg, "mnist5k", 16) <= 1e-5


# the cswap variant (21 qubits, 19 s) runs with the slow marker; bell keeps 20 qubits in every run
@pytest.mark.parametrize("swap_test", ["bell", pytest.param("cswap", marks=pytest.mark.slow)])
def test_mnist_32x32(swap_test):
    cfg = HQViTConfig((32, 32), (4, 4), layers=1, swap_test=swap_test)
    assert _max_error(cfg, "mnist5k", 2) <= 1e-5


def test_zero_tokens_are_masked_and_their_queries_defined():
    cfg = HQViTConfig((8, 8), (4, 4))
    img = torch.zeros(1, 8, 8, dtype=torch.float64)
    img[0, :4, :4] = torch.rand(4, 4, generator=torch.Generator().manual_seed(0)) + 0.1  # only token 0
    img[0, 4:, 4:] = 1.0  # and token 3
    tokens = tokens_from_images(img, cfg)
    params = torch.rand(1, len(cfg.trainable_symbols()), dtype=torch.float64)
    s, mask = qsim_attention(tokens, params, QsimAttention(cfg))
    assert mask.tolist() == [[True, False, False, True]]
    assert torch.all(s[0, 0, [1, 2], :] == 0) and torch.all(s[0, 0, :, [1, 2]] == 0)
    s_e, valid = exact_attention(tokens, params, cfg)
    assert torch.equal(valid, mask)
    assert float((s - s_e).abs().max()) < 1e-5


def test_attention_from_joint_masks_unobserved_tokens():
    joint = np.zeros((1, 2, 3, 3))
    joint[0, 0, 0, 0], joint[0, 1, 0, 0] = 3, 1  # S_00 = 0.5
    joint[0, 0, 0, 2] = 2  # S_02 = 1
    joint[0, 0, 2, 0], joint[0, 1, 2, 0] = 1, 1  # S_20 = 0
    s, mask = attention_from_joint(joint)
    assert mask.tolist() == [[True, False, True]]
    assert s[0, 0, 0] == 0.5 and s[0, 0, 2] == 1.0 and s[0, 2, 0] == 0.0
    assert np.all(s[0, 1] == 0) and np.all(s[0, :, 1] == 0)


def test_shot_estimates_converge_to_the_exact_matrix():
    cfg = HQViTConfig((8, 8), (4, 4))
    ds = load_dataset("digits", cfg.image)
    tokens = tokens_from_images(ds.images[:2].double(), cfg)
    params = torch.rand(1, len(cfg.trainable_symbols()), dtype=torch.float64)
    s_e, _ = exact_attention(tokens, params, cfg)
    errors = []
    for shots in (1_000, 1_000_000):
        s, _ = qsim_attention(tokens, params, QsimAttention(cfg, shots=shots, seed=1))
        errors.append(float((s - s_e).abs().max()))
    # tokens of the digits hold >= ~1% of the mass each: 1e6 shots give ~1e-2 worst-case error
    assert errors[1] < 0.03
    assert errors[1] < errors[0]


def test_shot_estimates_are_deterministic_given_the_seed():
    cfg = HQViTConfig((8, 8), (4, 4))
    tokens = tokens_from_images(load_dataset("digits", cfg.image).images[:2].double(), cfg)
    params = torch.rand(1, len(cfg.trainable_symbols()), dtype=torch.float64)
    a, _ = qsim_attention(tokens, params, QsimAttention(cfg, shots=500, seed=7))
    b, _ = qsim_attention(tokens, params, QsimAttention(cfg, shots=500, seed=7))
    assert torch.equal(a, b)
