"""Closed-form attention: S_ij = (q_i . k_j)^2 / (a_i^2 a_j^2), q_i = U_Q x_i, k_j = U_K x_j.

The test oracle for every compiled circuit and the fast exact backend. Differentiable in torch,
so the exact backend trains with ordinary autograd.
"""

from __future__ import annotations

import torch

from hqvit.compiler.hqvit import HQViTConfig


def ry_matrices(theta: torch.Tensor) -> torch.Tensor:
    """(..., ) angles -> (..., 2, 2) RY matrices."""
    c, s = torch.cos(theta / 2), torch.sin(theta / 2)
    return torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)


def _cnot_chain_permutation(m: int) -> torch.Tensor:
    """Basis permutation of CNOT(0->1), CNOT(1->2), ... with qubit 0 the most significant bit."""
    size = 1 << m
    perm = torch.empty(size, dtype=torch.long)
    for x in range(size):
        bits = [(x >> (m - 1 - q)) & 1 for q in range(m)]
        for q in range(m - 1):
            bits[q + 1] ^= bits[q]
        perm[x] = sum(b << (m - 1 - q) for q, b in enumerate(bits))
    eye = torch.eye(size, dtype=torch.float64)
    return eye[:, perm].contiguous()  # column x has its 1 in row perm[x]: maps e_x to e_perm[x]


def ansatz_unitary(angles: torch.Tensor) -> torch.Tensor:
    """(..., L, m) angles -> (..., d, d) real orthogonal matrix of the L-layer RY + CNOT-chain ansatz."""
    *batch, layers, m = angles.shape
    chain = _cnot_chain_permutation(m).to(angles.dtype)
    u = torch.eye(1 << m, dtype=angles.dtype).expand(*batch, -1, -1)
    for layer in range(layers):
        rots = ry_matrices(angles[..., layer, :])
        r = rots[..., 0, :, :]
        for q in range(1, m):
            r = torch.einsum("...ab,...cd->...acbd", r, rots[..., q, :, :]).reshape(
                *batch, r.shape[-2] * 2, r.shape[-1] * 2
            )
        u = chain @ r @ u
    return u


def split_head_params(params: torch.Tensor, cfg: HQViTConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """(H, 2 L m) in ``cfg.trainable_symbols()`` order -> U_Q angles (H, L, m), U_K angles (H, L, m)."""
    h = params.shape[0]
    p = params.reshape(h, 2, cfg.layers, cfg.feature_qubits)
    return p[:, 0], p[:, 1]


def exact_attention(tokens: torch.Tensor, params: torch.Tensor, cfg: HQViTConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """tokens (B, T, d), params (H, 2 L m) -> S (B, H, T, T), valid-token mask (B, T)."""
    x = tokens.to(torch.float64)
    q_ang, k_ang = split_head_params(params.to(torch.float64), cfg)
    uq, uk = ansatz_unitary(q_ang), ansatz_unitary(k_ang)  # (H, d, d)
    q = torch.einsum("hef,btf->bhte", uq, x)
    k = torch.einsum("hef,btf->bhte", uk, x)
    norms2 = (x * x).sum(-1)  # (B, T)
    valid = norms2 > 0
    overlap = torch.einsum("bhie,bhje->bhij", q, k)
    denom = norms2[:, None, :, None] * norms2[:, None, None, :]
    pair = valid[:, None, :, None] & valid[:, None, None, :]
    s = torch.where(pair, overlap**2 / torch.where(pair, denom, torch.ones_like(denom)), torch.zeros_like(overlap))
    return s, valid
