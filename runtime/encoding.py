"""Images to circuit parameters, differentiably: patches to tokens, tokens to encoding angles.

The angle map is the Möttönen tree of ``hqvit.ir.encoding`` as a vectorized torch function, so
gradients reach the pixels (and anything before them). Level k of the tree rotates qubit k
conditioned on the k-bit prefix s of qubits 0..k-1 by alpha_s = 2 atan2(||x_{s1}||, ||x_{s0}||);
on the last level the signed amplitudes are used so negative values are encoded too.
"""

from __future__ import annotations

import torch

from hqvit.compiler.hqvit import HQViTConfig
from hqvit.ir.encoding import gray_inverse_matrix
from hqvit.ir.errors import InputError
from hqvit.ir.specialization import EncodingSpecialization

# sqrt(0) has an infinite derivative; a tiny floor keeps gradients finite. An all-zero sub-tree
# gets angle atan2(tiny, tiny) instead of 0, which is harmless: its amplitudes are zero either way.
_TINY = 1e-300


def encoding_angles(amplitudes: torch.Tensor, specialization: EncodingSpecialization | None = None) -> torch.Tensor:
    """(B, 2^n) real amplitudes (any norm) -> (B, 2^n - 1) Gray-code RY angles, level by level.
    With ``specialization`` the angles of its specialized circuit (zero at the dropped steps);
    an image it does not admit is refused (InputError), never mis-encoded."""
    x = amplitudes.to(torch.float64)
    batch, size = x.shape
    n = size.bit_length() - 1
    if 1 << n != size:
        raise ValueError(f"amplitude vector length {size} is not a power of two")
    if specialization is not None:
        if specialization.num_qubits != n:
            raise InputError(f"the specialization is for {1 << specialization.num_qubits} amplitudes, got {size}")
        specialization.check(x.detach().numpy())
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
        m = gray_inverse_matrix(k) if specialization is None else specialization.angle_map(k)
        minv = torch.as_tensor(m, dtype=torch.float64)
        out.append(alpha @ minv.T)
    return torch.cat(out, dim=1)


def tokens_from_images(images: torch.Tensor, cfg: HQViTConfig) -> torch.Tensor:
    """(B, H, W) -> (B, T, d): token t = (r // P, c // P), feature f = (r % P, c % P)."""
    b = images.shape[0]
    (gh, gw), (ph, pw) = cfg.grid, cfg.patch
    x = images.reshape(b, gh, ph, gw, pw).permute(0, 1, 3, 2, 4)
    return x.reshape(b, cfg.tokens, cfg.features)


def data_bindings(tokens: torch.Tensor, specialization: EncodingSpecialization | None = None) -> torch.Tensor:
    """(B, T, d) token features -> (B, 2^n - 1) values of the data symbols (the encoding angles),
    for the circuit compiled with ``specialization`` where given."""
    return encoding_angles(tokens.reshape(tokens.shape[0], -1), specialization)


def dataset_specialization(images: torch.Tensor, cfg: HQViTConfig, source: str) -> EncodingSpecialization:
    """(N, H, W) images of a data set -> the amplitudes that are zero in all of them."""
    tokens = tokens_from_images(images.to(torch.float64), cfg)
    return EncodingSpecialization.from_amplitudes(tokens.reshape(len(images), -1).numpy(), source)
