"""From measured probabilities to the attention matrix.

P(a, i, j) is the probability of swap-test bit a with index outcomes i (copy 1) and j (copy 2);
S_ij = (P0 - P1) / (P0 + P1). Tokens that can never be observed (zero norm) or, with a shot
budget, were never observed are masked: they are no key for anyone, and their own query row is
set to 0 (softmax over the valid keys then gives a uniform row).
"""

from __future__ import annotations

import numpy as np
import torch

from hqvit.compiler.hqvit import HQViTConfig


class Readout:
    """Marginalizes a statevector's probabilities onto (a, i, j) for a given final layout."""

    def __init__(
        self, cfg: HQViTConfig, registers: dict[str, tuple[int, ...]], final_layout: list[int], num_qubits: int
    ):
        self.cfg = cfg
        self.num_qubits = num_qubits
        phys = lambda reg: [final_layout[q] for q in registers[reg]]  # noqa: E731
        order = phys("index1") + phys("feature1") + phys("index2") + phys("feature2")
        if cfg.swap_test == "cswap":
            order += phys("ancilla")
        self.kept = order
        self.rest = [q for q in range(num_qubits) if q not in set(order)]
        d = cfg.features
        f = np.arange(d)
        # parity of popcount(fa & fb): the destructive swap test's outcome bit
        self.parity = np.array([[bin(a & b).count("1") & 1 for b in f] for a in f], dtype=np.float64)

    def joint(self, probs: np.ndarray) -> np.ndarray:
        """(K, 2^N) probabilities (big-endian over qubits 0..N-1) -> (K, 2, T, T)."""
        return joint_torch(self, torch.from_numpy(np.asarray(probs, dtype=np.float64))).numpy()


def joint_torch(readout: Readout, probs: torch.Tensor) -> torch.Tensor:
    """``Readout.joint`` in torch, differentiable: (K, 2^N) -> P(a, i, j) (K, 2, T, T). The one
    implementation; the numpy entry point converts."""
    k = probs.shape[0]
    cfg = readout.cfg
    t, d = cfg.tokens, cfg.features
    p = probs.reshape((k,) + (2,) * readout.num_qubits)
    p = p.permute([0] + [1 + q for q in readout.kept] + [1 + q for q in readout.rest])
    p = p.reshape(k, 2 ** len(readout.kept), -1).sum(-1)
    if cfg.swap_test == "bell":
        p = p.reshape(k, t, d, t, d)
        total = p.sum(dim=(2, 4))
        parity = torch.as_tensor(readout.parity, dtype=p.dtype)
        p1 = torch.einsum("kiajb,ab->kij", p, parity)
        return torch.stack([total - p1, p1], dim=1)
    return p.reshape(k, t, d, t, d, 2).sum(dim=(2, 4)).movedim(-1, 1)


def sample_joint(joint: np.ndarray, shots: int, rng: np.random.Generator) -> np.ndarray:
    """(K, 2, T, T) probabilities -> the frequencies of ``shots`` draws per row (K independent runs).

    What a noiseless device returns: each shot is one outcome (a, i, j) drawn from the circuit's
    distribution, so the counts of a run are multinomial. Rounding below zero is clipped and each
    row renormalized first (as ``QsimAttention`` does before its own draw)."""
    k = joint.shape[0]
    flat = np.clip(np.asarray(joint, dtype=np.float64).reshape(k, -1), 0.0, None)
    flat = flat / flat.sum(axis=1, keepdims=True)
    return (rng.multinomial(shots, flat) / shots).reshape(joint.shape)


def attention_from_joint(joint: np.ndarray, valid: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(K, 2, T, T) probabilities or counts -> S (K, T, T), token mask (K, T).

    ``valid`` (T,) marks tokens with nonzero norm (known from the data); a token is kept if it is
    valid and was observed (its index has nonzero marginal as query and as key).
    """
    joint_t = torch.from_numpy(np.asarray(joint, dtype=np.float64))
    k, t = joint_t.shape[0], joint_t.shape[-1]
    valid_t = torch.ones(k, t, dtype=torch.bool) if valid is None else torch.from_numpy(np.asarray(valid)).expand(k, t)
    s, mask = attention_torch(joint_t, valid_t)
    return s.numpy(), mask.numpy()


def attention_torch(joint: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``attention_from_joint`` in torch: (K, 2, T, T), valid (K, T) -> S (K, T, T), mask.

    S is clipped to [0, 1] (rounding or shot noise can leave it outside), but the clip passes
    gradients straight through: it only removes rounding, and the exact S has the unclipped slope."""
    p0, p1 = joint[:, 0], joint[:, 1]
    total = p0 + p1
    with torch.no_grad():
        seen = (total.sum(dim=2) > 0) & (total.sum(dim=1) > 0)
        mask = seen & valid
        pair = mask[:, :, None] & mask[:, None, :] & (total > 0)
    raw = torch.where(pair, (p0 - p1) / torch.where(pair, total, torch.ones_like(total)), torch.zeros_like(total))
    return raw + (raw.clamp(0.0, 1.0) - raw).detach(), mask
