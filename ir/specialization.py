"""Dataset-aware specialization of the Möttönen encoding: rotations that a data set never needs.

Level k of the tree rotates by alpha_s = 2 atan2(||x_{s1}||, ||x_{s0}||) for each k-bit prefix s
(``hqvit.ir.encoding``). When every image of a data set is zero on the whole subtree of s, the
amplitudes under s are zero whatever alpha_s is: alpha_s is a don't-care. The circuit applies
theta = M_k^-1 alpha (Gray-code angles), so choosing the don't-cares well makes some theta_i zero
for every image, and the rotations (and, in a parity walk, the parities) of those steps disappear.

Why it is exact. Let D be the don't-care prefixes of level k, F the others, and I a set of |D|
Gray steps with M_k[D, I] invertible. M_k / 2^(k/2) is orthogonal, so M_k[F, J] (J the other
steps) is invertible too (complementary minors of an orthogonal matrix have equal absolute
determinants). Then theta_J = M_k[F, J]^-1 alpha_F, theta_I = 0 gives alpha = M_k theta that
agrees with the image's alpha on F and takes some value on D, which changes no amplitude. Every
image that is zero wherever the data set is zero is therefore encoded exactly by the circuit
without the steps I; an image that is not is refused (``outside``), never silently mis-encoded.
The angles stay linear in the per-image alpha, so the circuit still compiles once and binds per
image.

Which steps are dropped: I is grown greedily over the steps, preferring parities of many
controls (a tie goes to the higher mask), keeping a step only if the chosen columns of
M_k[D, :] stay independent; where D is a subcube (a padded border), this picks a coset of
parities on which M_k[D, I] is a signed Hadamard matrix, perfectly conditioned.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from hqvit.ir.encoding import gray_inverse_matrix
from hqvit.ir.errors import InputError

CONDITION_LIMIT = 1e6  # M_k[F, J] worse than this would amplify float error in the angles


@functools.cache
def _gray_matrix(k: int) -> np.ndarray:
    """M_k[s, i] = (-1)^popcount(s & gray(i)): alpha = M_k theta."""
    return np.linalg.inv(gray_inverse_matrix(k)).round()


@functools.cache
def _parity_of_step(k: int) -> tuple[int, ...]:
    """Gray step -> the mask of controls whose parity it rotates (bit j = control j)."""
    from hqvit.ir.encoding import gray

    out = []
    for i in range(1 << k):
        g, m = gray(i), 0
        for b in range(k):
            if (g >> b) & 1:
                m |= 1 << (k - 1 - b)
        out.append(m)
    return tuple(out)


@dataclass(frozen=True)
class EncodingSpecialization:
    """The amplitude indices (``t d + f``, the tree root the most significant bit) that are zero
    in every image of ``source``, for a register of ``num_qubits`` qubits."""

    num_qubits: int
    zero_amplitudes: tuple[int, ...]
    source: str = ""

    @staticmethod
    def from_amplitudes(amplitudes: np.ndarray, source: str = "") -> EncodingSpecialization:
        """(N, 2^n) amplitude vectors (any norm) of a data set -> its specialization."""
        a = np.asarray(amplitudes)
        if a.ndim != 2 or a.shape[0] == 0 or a.shape[1] & (a.shape[1] - 1) or a.shape[1] < 2:
            raise InputError(f"specialization needs (N, 2^n) amplitudes with N >= 1, got shape {a.shape}")
        zero = np.flatnonzero((a == 0).all(axis=0))
        return EncodingSpecialization(a.shape[1].bit_length() - 1, tuple(int(i) for i in zero), source)

    def dont_cares(self, k: int) -> np.ndarray:
        """Level-k prefixes whose whole subtree is always zero (boolean over the 2^k prefixes)."""
        zero = np.zeros(1 << self.num_qubits, bool)
        zero[list(self.zero_amplitudes)] = True
        return zero.reshape(1 << k, -1).all(axis=1)

    @functools.cached_property
    def _levels(self) -> tuple[tuple[tuple[int, ...], np.ndarray], ...]:
        return tuple(_specialize_level(k, self.dont_cares(k)) for k in range(self.num_qubits))

    def zero_steps(self) -> tuple[tuple[int, ...], ...]:
        """Per level, the Gray steps whose angle is zero for every admitted image."""
        return tuple(steps for steps, _ in self._levels)

    def angle_map(self, k: int) -> np.ndarray:
        """theta_k = angle_map(k) @ alpha_k for admitted images (zero rows at the dropped steps,
        zero columns at the don't-cares); M_k^-1 where nothing is dropped."""
        return self._levels[k][1]

    @property
    def dropped_rotations(self) -> int:
        return sum(len(s) for s in self.zero_steps())

    def outside(self, amplitudes: np.ndarray) -> list[tuple[int, int]]:
        """(image, amplitude index) of the first nonzero value on the zero set, per offending image."""
        a = np.asarray(amplitudes)
        if not self.zero_amplitudes:
            return []
        bad = a[:, list(self.zero_amplitudes)] != 0
        rows = np.flatnonzero(bad.any(axis=1))
        return [(int(r), self.zero_amplitudes[int(np.argmax(bad[r]))]) for r in rows]

    def check(self, amplitudes: np.ndarray, what: str = "image") -> None:
        """Raise InputError naming the first image that the specialized circuit cannot encode."""
        bad = self.outside(amplitudes)
        if bad:
            i, idx = bad[0]
            raise InputError(
                f"{what} {i} is nonzero at amplitude {idx}, which is zero in every image of the "
                f"specialization ({self.source or 'its data set'}; {len(bad)} such image(s)): "
                "compile without --specialize for it"
            )

    def to_dict(self) -> dict:
        return {"num_qubits": self.num_qubits, "zero_amplitudes": list(self.zero_amplitudes), "source": self.source}

    @staticmethod
    def from_dict(d: dict) -> EncodingSpecialization:
        n, zeros = int(d["num_qubits"]), [int(i) for i in d["zero_amplitudes"]]
        if n < 1 or any(not 0 <= i < 1 << n for i in zeros):
            raise InputError(f"specialization: amplitude indices must lie in [0, 2^{n})")
        return EncodingSpecialization(n, tuple(sorted(set(zeros))), str(d.get("source", "")))


def _preference(parity: int) -> tuple[int, int]:
    return (-bin(parity).count("1"), -parity)


def _specialize_level(k: int, dont_care: np.ndarray) -> tuple[tuple[int, ...], np.ndarray]:
    m = _gray_matrix(k)
    d = np.flatnonzero(dont_care)
    f = np.flatnonzero(~dont_care)
    if len(d) == 0:
        return (), gray_inverse_matrix(k).copy()
    if len(f) == 0:  # the level never rotates anything an image needs
        return tuple(range(1 << k)), np.zeros((1 << k, 1 << k))
    parities = _parity_of_step(k)
    order = sorted(range(1 << k), key=lambda i: _preference(parities[i]))
    chosen: list[int] = []
    basis = np.zeros((len(d), 0))  # orthonormal span of the chosen columns of M_k[D, :]
    for i in order:
        col = m[d, i]
        residual = col - basis @ (basis.T @ col)
        norm = np.linalg.norm(residual)
        if norm > 1e-9 * np.linalg.norm(col):
            chosen.append(i)
            basis = np.hstack([basis, (residual / norm)[:, None]])
            if len(chosen) == len(d):
                break
    keep = [i for i in range(1 << k) if i not in set(chosen)]
    sub = m[np.ix_(f, keep)]
    if np.linalg.cond(sub) > CONDITION_LIMIT:  # cannot happen for an orthogonal M_k; guarded anyway
        raise ArithmeticError(f"level {k}: the specialized angle map is ill-conditioned")
    out = np.zeros((1 << k, 1 << k))
    out[np.ix_(keep, f)] = np.linalg.inv(sub)
    return tuple(sorted(chosen)), out
