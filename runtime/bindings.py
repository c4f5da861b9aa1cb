"""Concrete values for a circuit's symbols, for output formats without free parameters (OpenQASM 2).

It lives in the runtime because the data symbols of an HQViT circuit take the encoding angles
of an image, and that map (``hqvit.runtime.encoding``) is torch code shared with the model.
"""

from __future__ import annotations

import numpy as np
import torch

from hqvit.compiler.hqvit import HQViTConfig
from hqvit.ir.circuit import Circuit
from hqvit.ir.errors import InputError
from hqvit.ir.specialization import EncodingSpecialization
from hqvit.runtime.encoding import data_bindings, tokens_from_images


def random_bindings(
    circuit: Circuit, cfg: HQViTConfig | None, spec: str, specialization: EncodingSpecialization | None = None
) -> dict[str, float]:
    """``spec`` = ``random:SEED``: the data symbols of an HQViT circuit (``cfg`` given) encode a
    random non-negative image (zero where ``specialization`` requires, so the specialized circuit
    admits it); every other symbol gets a uniform angle in [-pi, pi)."""
    kind, _, seed_text = spec.partition(":")
    if kind != "random" or not seed_text.isdigit():
        raise InputError(f"--bind must look like random:SEED, got {spec!r}")
    rng = np.random.default_rng(int(seed_text))
    values: dict[str, float] = {}
    if cfg is not None:
        image = torch.as_tensor(rng.uniform(0, 1, (1, *cfg.image)))
        tokens = tokens_from_images(image, cfg)
        if specialization is not None:
            flat = tokens.reshape(1, -1).clone()
            flat[:, list(specialization.zero_amplitudes)] = 0.0
            tokens = flat.reshape(tokens.shape)
        data = data_bindings(tokens, specialization)[0].numpy()
        values.update(zip(circuit.symbols_of_kind("data"), data, strict=True))
    for name in circuit.symbols:
        values.setdefault(name, float(rng.uniform(-np.pi, np.pi)))
    return values
