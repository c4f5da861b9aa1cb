"""Möttönen amplitude-encoding angles as a vectorized, differentiable map of the amplitudes.

Level k of the tree rotates qubit k conditioned on the k-bit prefix s of qubits 0..k-1 by
alpha_s = 2 atan2(||x_{s1}||, ||x_{s0}||); on the last level the signed amplitudes are used so
negative values are encoded too (alpha in (-2pi, 2pi]). The Gray-code multiplexor realises the
conditional rotations with plain RY angles theta = M_k^-1 alpha, where
M_k[s, i] = (-1)^popcount(s & gray(i)): after step i of the Gray walk the target has been
flipped by the controls whose bits are set in gray(i), so RY(theta_i) acts with that sign.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

# sqrt(0) has an infinite derivative; a tiny floor keeps gradients finite. An all-zero sub-tree
# gets angle atan2(tiny, tiny) instead of 0, which is harmless: its amplitudes are zero either way.
_TINY = 1e-300


def gray(i: int) -> int:
    return i ^ (i >> 1)


@functools.cache
def gray_inverse_matrix(k: int) -> np.ndarray:
    """M_k^-1 = M_k^T / 2^k (M_k is a signed Hadamard matrix up to column order)."""
    size = 1 << k
    m = np.empty((size, size))
    for s in range(size):
        for i in range(size):
            m[s, i] = -1.0 if bin(s & gray(i)).count("1") % 2 else 1.0
    return m.T / size


def gray_controls(k: int) -> list[int]:
    """For each of the 2^k steps, which control (0 = outermost, the tree root) the CNOT uses."""
    out = []
    for i in range(1 << k):
        changed = gray(i) ^ gray((i + 1) % (1 << k))
        out.append(k - changed.bit_length())
    return out


def encoding_symbols(prefix: str, num_qubits: int) -> list[str]:
    return [f"{prefix}{k}_{i}" for k in range(num_qubits) for i in range(1 << k)]


def encoding_angles(amplitudes: torch.Tensor) -> torch.Tensor:
    """(B, 2^n) real amplitudes (any norm) -> (B, 2^n - 1) Gray-code RY angles, level by level."""
    x = amplitudes.to(torch.float64)
    batch, size = x.shape
    n = size.bit_length() - 1
    if 1 << n != size:
        raise ValueError(f"amplitude vector length {size} is not a power of two")
    out = []
    sq = x * x
    for k in range(n):
        if k == n - 1:
            pairs = x.reshape(batch, 1 << k, 2)
            alpha = 2.0 * torch.atan2(pairs[..., 1], pairs[..., 0])
        else:
            halves = sq.reshape(batch, 1 << k, 2, -1).sum(-1)
            norms = torch.sqrt(halves.clamp_min(_TINY))
            alpha = 2.0 * torch.atan2(norms[..., 1], norms[..., 0])
        minv = torch.as_tensor(gray_inverse_matrix(k), dtype=torch.float64)
        out.append(alpha @ minv.T)
    return torch.cat(out, dim=1)
