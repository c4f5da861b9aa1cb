"""From measured probabilities to the attention matrix.

P(a, i, j) is the probability of swap-test bit a with index outcomes i (copy 1) and j (copy 2);
S_ij = (P0 - P1) / (P0 + P1). Tokens that can never be observed (zero norm) or, with a shot
budget, were never observed are masked: they are no key for anyone, and their own query row is
set to 0 (softmax over the valid keys then gives a uniform row).
"""

from __future__ import annotations

import numpy as np

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
        k = probs.shape[0]
        t, d = self.cfg.tokens, self.cfg.features
        p = probs.reshape((k,) + (2,) * self.num_qubits)
        p = np.transpose(p, [0] + [1 + q for q in self.kept] + [1 + q for q in self.rest])
        p = p.reshape(k, 2 ** len(self.kept), -1).sum(-1)
        if self.cfg.swap_test == "bell":
            p = p.reshape(k, t, d, t, d)
            total = p.sum(axis=(2, 4))
            p1 = np.einsum("kiajb,ab->kij", p, self.parity)
            return np.stack([total - p1, p1], axis=1)
        p = p.reshape(k, t, d, t, d, 2).sum(axis=(2, 4))
        return np.moveaxis(p, -1, 1)


def attention_from_joint(joint: np.ndarray, valid: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(K, 2, T, T) probabilities or counts -> S (K, T, T), token mask (K, T).

    ``valid`` (T,) marks tokens with nonzero norm (known from the data); a token is kept if it is
    valid and was observed (its index has nonzero marginal as query and as key).
    """
    p0, p1 = joint[:, 0], joint[:, 1]
    total = p0 + p1
    seen = (total.sum(axis=2) > 0) & (total.sum(axis=1) > 0)
    mask = seen if valid is None else seen & valid[None, :]
    pair = mask[:, :, None] & mask[:, None, :] & (total > 0)
    s = np.where(pair, (p0 - p1) / np.where(total > 0, total, 1.0), 0.0)
    return np.clip(s, 0.0, 1.0), mask
