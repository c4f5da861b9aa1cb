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
"""

from __future__ import annotations

import math
from dataclasses import dataclass

GIB = 1 << 30
DEFAULT_STATE_BUDGET = 2 * GIB  # a 24 GiB machine holds several layers' worth with room to spare


@dataclass(frozen=True)
class ChunkPlan:
    """``keep``: one chunk with the states kept from the forward for the backward. Else
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


def plan_chunks(images: int, keep_bytes: int, forward_bytes: int, budget: int, grad: bool) -> ChunkPlan:
    """Chunk sizes for ``images`` images whose state arrays take ``keep_bytes`` per image at the
    peak of a forward + backward with kept states and ``forward_bytes`` at the peak of a
    forward-only pass. ``grad``: a backward will follow. A chunk never has fewer than one image,
    so a single image larger than the budget is still simulated (the budget is then exceeded
    by that image alone)."""
    if images < 1:
        return ChunkPlan(images, grad, 1, 1)
    if budget < 1 or keep_bytes < 1 or forward_bytes < 1:
        raise ValueError("budget and per-image bytes must be positive")
    forward = min(images, max(1, budget // forward_bytes))
    backward = min(images, max(1, budget // keep_bytes))
    return ChunkPlan(images, grad and backward == images, forward, backward)
