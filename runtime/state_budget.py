"""How many images of a mini-batch one attention layer simulates at once on the adjoint path.

A statevector path holds (images x heads, 2^N) arrays: at 20 qubits in float32 each image-head
row is 4 MiB, so the arrays of a 256-image evaluation batch with 2 heads are 2 GiB apiece, and a
forward pass has several alive at once. The layer therefore works through the mini-batch in
chunks of images sized so that the state arrays alive at once stay within ``budget`` bytes:

- the whole batch in one chunk when everything the backward needs (each trainable block's input
  and the final state) plus the arrays of the pass itself fits: the states are kept from the
  forward for the backward, as without a budget;
- otherwise the forward runs chunk by chunk keeping nothing (forward-only chunks hold fewer
  arrays, so they are larger), and the backward recomputes each chunk's forward, keeping its
  states just for that chunk's reverse sweep: one more forward pass, for memory bounded by the
  budget whatever the batch size.

Chunking changes only which rows go through a batched matmul together: every row's arithmetic is
the same, so S is bitwise the same and the gradients differ only by the order in which float64
per-chunk sums are added.

The budget is per attention layer: in training, a layer that kept its states holds them while
the later layers run, so a model with L quantum blocks holds at most about L x budget of state
arrays (and a layer that had to chunk keeps none).

Within the budget, chunks are also capped at a sub-batch of ``SUB_BATCH_BYTES`` of state per
array (``sub_batch_images``), for speed rather than memory: each pass over the state allocates its
output, and an array of tens of MiB is handed back to the kernel when freed (glibc's malloc
serves requests above its mmap threshold, at most 32 MiB, with fresh pages and trims a freed heap
top beyond twice that threshold), so the next pass takes a page fault and a zeroing per 4 KiB.
At 16 qubits and batch 128 (32 MiB arrays) that kernel time was 1.5x the arithmetic
(``benchmarks/batch_scaling.py``); arrays of a few MiB are recycled by the allocator instead,
and the arithmetic per image does not depend on the batch. The cap is a function of the state
size alone, never of the machine, so the same run sums in the same order everywhere.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

GIB = 1 << 30
MIB = 1 << 20
DEFAULT_STATE_BUDGET = 2 * GIB  # a 24 GiB machine holds several layers' worth with room to spare
# one state array of a sub-batch: recycled by malloc, not mapped afresh (16 images at 16 qubits)
SUB_BATCH_BYTES = 4 * MIB


@dataclass(frozen=True)
class ChunkPlan:
    """``keep``: the states of every chunk are kept from the forward for the backward (the whole
    batch's fit the budget), and ``forward`` == ``backward`` is the chunk size of both. Else
    ``forward`` images per forward-only chunk and ``backward`` per recomputed chunk."""

    images: int
    keep: bool
    forward: int
    backward: int

    def chunks(self, size: int) -> list[slice]:
        """Consecutive slices of at most ``size`` images covering the batch."""
        return [slice(lo, min(lo + size, self.images)) for lo in range(0, self.images, size)]


def budget_from_gib(gib: float) -> int:
    """A budget given in GiB (a positive finite number) -> bytes; ValueError with one line."""
    if isinstance(gib, bool) or not isinstance(gib, (int, float)) or not math.isfinite(gib) or gib <= 0:
        raise ValueError(f"the state memory budget must be a positive number of GiB, got {gib!r}")
    return max(1, int(gib * GIB))


def sub_batch_images(array_bytes: int, target: int = SUB_BATCH_BYTES) -> int:
    """Images per sub-batch when one image's rows of a state array take ``array_bytes``: as many
    as stay within ``target`` bytes, at least one."""
    if array_bytes < 1 or target < 1:
        raise ValueError("array and target bytes must be positive")
    return max(1, target // array_bytes)


def plan_chunks(
    images: int, keep_bytes: int, forward_bytes: int, budget: int, grad: bool, sub_batch: int | None = None
) -> ChunkPlan:
    """Chunk sizes for ``images`` images whose state arrays take ``keep_bytes`` per image at the
    peak of a forward + backward with kept states and ``forward_bytes`` at the peak of a
    forward-only pass. ``grad``: a backward will follow. ``sub_batch``: no chunk has more images
    (``sub_batch_images``); the states are kept when the whole batch's fit the budget, whatever
    the sub-batch, so capping changes the passes' sizes, not what is kept or recomputed. A chunk
    never has fewer than one image, so a single image larger than the budget is still simulated
    (the budget is then exceeded by that image alone)."""
    if images < 1:
        return ChunkPlan(images, grad, 1, 1)
    if budget < 1 or keep_bytes < 1 or forward_bytes < 1:
        raise ValueError("budget and per-image bytes must be positive")
    if sub_batch is not None and sub_batch < 1:
        raise ValueError(f"sub_batch must be a positive number of images, got {sub_batch}")
    cap = images if sub_batch is None else min(images, sub_batch)
    forward = min(cap, max(1, budget // forward_bytes))
    backward = min(images, max(1, budget // keep_bytes))
    if grad and backward == images:  # everything the backward needs fits: kept, chunk by chunk
        return ChunkPlan(images, True, cap, cap)
    return ChunkPlan(images, False, forward, min(cap, backward))
