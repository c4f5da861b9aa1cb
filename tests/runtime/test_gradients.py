"""Parameter-shift gradients through qsim against finite differences of the closed form."""

import numpy as np
import pytest
import torch

from hqvit.compiler.hqvit import HQViTConfig
from hqvit.runtime.data import load_dataset
from hqvit.runtime.encoding import tokens_from_images
from hqvit.runtime.exact import exact_attention
from hqvit.runtime.quantum_attention import QsimAttention, qsim_attention


def _finite_difference(f, x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    g = torch.zeros_like(x)
    flat = x.reshape(-1)
    for k in range(flat.numel()):
        up, down = flat.clone(), flat.clone()
        up[k] += eps
        down[k] -= eps
        g.reshape(-1)[k] = (f(up.reshape(x.shape)) - f(down.reshape(x.shape))) / (2 * eps)
    return g


@pytest.mark.parametrize("swap_test", ["bell", "cswap"])
def test_trainable_gradients_match_finite_differences(swap_test):
    cfg = HQViTConfig((8, 8), (4, 4), layers=2, heads=2, swap_test=swap_test)
    tokens = tokens_from_images(load_dataset("digits", cfg.image).images[:3].double(), cfg)
    gen = torch.Generator().manual_seed(0)
    params = (torch.rand(2, len(cfg.trainable_symbols()), generator=gen, dtype=torch.float64) * 6 - 3).requires_grad_()
    weights = torch.randn(3, 2, cfg.tokens, cfg.tokens, generator=gen, dtype=torch.float64)
    s, _ = qsim_attention(tokens, params, QsimAttention(cfg))
    (s * weights).sum().backward()
    fd = _finite_difference(lambda p: (exact_attention(tokens, p, cfg)[0] * weights).sum(), params.detach())
    np.testing.assert_allclose(params.grad.numpy(), fd.numpy(), rtol=1e-3, atol=1e-5)


def test_data_gradients_match_autograd_of_the_closed_form():
    """Blocks after the first encode signed, dense tokens: gradients flow into them too."""
    cfg = HQViTConfig((4, 4), (2, 2), layers=1)
    gen = torch.Generator().manual_seed(1)
    tokens = torch.randn(2, cfg.tokens, cfg.features, generator=gen, dtype=torch.float64)
    params = torch.rand(1, len(cfg.trainable_symbols()), generator=gen, dtype=torch.float64)
    weights = torch.randn(2, 1, cfg.tokens, cfg.tokens, generator=gen, dtype=torch.float64)
    t_q = tokens.clone().requires_grad_()
    (qsim_attention(t_q, params, QsimAttention(cfg))[0] * weights).sum().backward()
    t_e = tokens.clone().requires_grad_()
    (exact_attention(t_e, params, cfg)[0] * weights).sum().backward()
    np.testing.assert_allclose(t_q.grad.numpy(), t_e.grad.numpy(), rtol=1e-3, atol=1e-5)


def test_exact_backend_gradient_matches_finite_differences():
    cfg = HQViTConfig((8, 8), (2, 2), layers=3)
    tokens = tokens_from_images(load_dataset("digits", cfg.image).images[:2].double(), cfg)
    params = torch.rand(
        1, len(cfg.trainable_symbols()), dtype=torch.float64, generator=torch.Generator().manual_seed(3)
    )
    f = lambda p: exact_attention(tokens, p, cfg)[0].pow(2).sum()  # noqa: E731
    assert torch.autograd.gradcheck(lambda p: f(p), (params.clone().requires_grad_(),))
