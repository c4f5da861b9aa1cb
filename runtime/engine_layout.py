"""Bit positions for the batched trajectory engine: the qubits a circuit touches last sit highest.

A qubit is |0> in every trajectory until its first block (the noise model inserts nothing on a
qubit before its first operation, ``noisy_program``), so before block b the whole batch lives in
the amplitudes whose bits of the qubits untouched so far are 0. With the qubits ordered by their
first block, latest first, from the most significant bit down, those untouched bits are the top
ones and that subspace is the first 2^t rows of the (2^N, R) state, t = the qubits touched up
to and including block b: the kernels run block b (and the phases before it) over those rows
only (``block_size``). Nothing outside them is read or written: the amplitudes there are 0 before
the block and a block acts on touched bits only, so they stay 0. Backwards, a co-state is exact
on block b's rows after the adjoint of block b (the block maps them onto themselves), and every
earlier block reads only rows of its own, fewer, touched qubits. The HQViT circuits encode their
patches one after another, so a large part of the circuit runs on a fraction of the state (on the
digits circuit compiled for sycamore23, 35 % of the full-state work).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from hqvit.runtime.noisy_program import NoisyProgram


def first_touch(program: NoisyProgram) -> np.ndarray:
    """(num_qubits,) the first block each kernel bit position appears in (num_blocks if none)."""
    first = np.full(program.num_qubits, program.num_blocks, dtype=np.int64)
    for b in range(program.num_blocks - 1, -1, -1):
        first[program.block_qubits[b]] = b
    return first


def by_first_touch(program: NoisyProgram) -> tuple[NoisyProgram, np.ndarray, np.ndarray]:
    """The same program with its qubits renumbered so that later-touched qubits are more
    significant (ties: the more blocks a qubit is in, the more significant, as the builder
    orders them: long contiguous runs), (num_blocks,) the live rows before each block, and the
    renumbering (old bit position -> new)."""
    n = program.num_qubits
    first = first_touch(program)
    use = np.bincount(program.block_qubits.reshape(-1), minlength=n)
    # position 0 (most significant) = the latest first block; among equals the most used
    order = sorted(range(n), key=lambda bit: (-first[bit], -use[bit], bit))
    new_bit = np.empty(n, dtype=np.int64)
    new_bit[np.array(order, dtype=np.int64)] = np.arange(n)
    out = replace(
        program,
        block_qubits=new_bit[program.block_qubits],
        position=new_bit[program.position],
        ph_bit=new_bit[program.ph_bit] if len(program.ph_bit) else program.ph_bit,
    )
    touched = np.searchsorted(np.sort(first), np.arange(program.num_blocks), side="right")
    return out, (np.int64(1) << touched).astype(np.int64), new_bit
