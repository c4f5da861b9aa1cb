"""Refuse work that cannot fit in memory before allocating any of it.

Each check estimates the peak from sizes known up front and raises one InputError naming the
size and the limit, so a too-large request fails in milliseconds instead of being killed by the
kernel minutes later.
"""

from __future__ import annotations

import os

from hqvit.ir.errors import InputError

# qsim statevector (complex64) + its probabilities (float64) + the transposed copy readout makes
BYTES_PER_AMPLITUDE = 8 + 8 + 8
# Peak bytes per logical gate through the compiler: the IR gate and its affine angle, the copies
# the passes keep (lowered, routed, native, scheduled) and the router's per-gate tables. Measured
# peak ~1 KB per gate on the ideal target and up to ~6 KB routed on heavy-hex (MNIST 64x64);
# 8 KiB keeps a margin.
BYTES_PER_GATE = 8 << 10
MEMORY_FRACTION = 0.8  # leave room for the interpreter, torch and the data set
# Seeds of every command: numpy's legacy seeding (and so scikit-learn's) takes 0 .. 2^32 - 1. Here, not
# in the runtime, so that the command line can check a seed without loading torch.
MAX_SEED = 2**32 - 1


def available_memory_bytes() -> int:
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):  # not available on this platform: assume 8 GiB
        return 8 << 30


def _gib(n: float) -> str:
    return f"{n / 2**30:.3g} GiB"


def check_simulable(num_qubits: int, what: str = "circuit") -> None:
    """A statevector of ``num_qubits`` qubits (qsim, trajectories, verification) must fit."""
    need = (1 << num_qubits) * BYTES_PER_AMPLITUDE if num_qubits < 80 else float("inf")
    have = available_memory_bytes()
    if need > MEMORY_FRACTION * have:
        raise InputError(
            f"{what} has {num_qubits} qubits: simulating it needs about {_gib(need)}, "
            f"more than the {_gib(MEMORY_FRACTION * have)} of memory this machine can give it"
        )


def check_bytes(need: float, what: str) -> None:
    """Any other allocation whose size is known up front (e.g. a data set resized in memory)."""
    have = available_memory_bytes()
    if need > MEMORY_FRACTION * have:
        raise InputError(
            f"{what} needs about {_gib(need)}, more than the {_gib(MEMORY_FRACTION * have)} of memory "
            "this machine can give it"
        )


def check_compilable(num_gates: int, num_qubits: int | None, what: str = "circuit") -> None:
    """A circuit of ``num_gates`` logical gates must fit through the compiler's passes."""
    need = num_gates * BYTES_PER_GATE
    have = available_memory_bytes()
    if need > MEMORY_FRACTION * have:
        qubits = f"{num_qubits} qubits and " if num_qubits is not None else ""
        raise InputError(
            f"{what} has {qubits}up to about {num_gates:.3g} gates: compiling it needs about "
            f"{_gib(need)}, more than the {_gib(MEMORY_FRACTION * have)} of memory this machine can give it"
        )
