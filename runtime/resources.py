"""Refuse simulations that cannot fit in memory before starting them."""

from __future__ import annotations

import os

from compiler.errors import InputError

# statevector (complex64) + its probabilities (float64) + the transposed copy readout makes
BYTES_PER_AMPLITUDE = 8 + 8 + 8


def available_memory_bytes() -> int:
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):  # not available on this platform: assume 8 GiB
        return 8 << 30


def check_simulable(num_qubits: int, what: str = "circuit") -> None:
    need = (1 << num_qubits) * BYTES_PER_AMPLITUDE if num_qubits < 80 else float("inf")
    have = available_memory_bytes()
    if need > 0.8 * have:
        raise InputError(
            f"{what} has {num_qubits} qubits: simulating it needs about {need / 2**30:.3g} GiB, "
            f"more than the {have / 2**30:.3g} GiB of memory available"
        )
