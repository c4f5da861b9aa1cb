"""Möttönen amplitude encoding: the Gray-code structure shared by the circuit and the angle map.

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
