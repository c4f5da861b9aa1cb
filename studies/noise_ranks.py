"""A noise-study point split across the ranks of a ``torchrun`` job, with the single-process result.

Each rank evaluates a contiguous range of whole batches of the test images (``shard``), so every
batch the model sees holds the same images as in one process. Two things make the figures
independent of the world size:

- per-image randomness (``ImageStreams``): ``NoisyAttention`` draws one trajectory seed per image
  from its generator, in image order. A rank starting at image ``lo`` skips the first ``lo``
  draws, so image i gets the seed it gets in one process. Shot sampling draws from the same
  generator between those seeds (a number of draws that depends on the distribution), so it
  gets a generator per image, seeded by (backend seed, image index), instead;
- order (``gather_cat``, ``merge_records``): the per-image predictions and the per-(image, head)
  errors and fidelities are gathered in rank order, which is image order, so every mean and
  interval is computed from the same numbers in the same order as in one process.
"""

from __future__ import annotations

import numpy as np
import torch

from hqvit.runtime.distributed import Ranks


class ImageStreams:
    """Stands in for ``NoisyAttention.rng`` from image ``start`` on.

    ``NoisyAttention.forward`` calls ``integers`` once per image (the image's trajectory seed) and
    then, with shots, ``multinomial`` once per head for that image: ``integers`` returns the draw
    a fresh ``default_rng(seed)`` gives for that image index (so without shots the trajectories
    equal those of the backend's own generator), and ``multinomial`` samples from the image's own
    generator.
    """

    def __init__(self, seed: int, start: int):
        self.seed = seed
        self.index = start - 1
        self._seeds = np.random.default_rng(seed)
        for _ in range(start):
            self._seeds.integers(2**31 - 1)
        self._shots = np.random.default_rng([seed, start])

    def integers(self, high: int) -> int:
        self.index += 1
        self._shots = np.random.default_rng([self.seed, self.index])
        return int(self._seeds.integers(high))

    def multinomial(self, n: int, pvals: np.ndarray) -> np.ndarray:
        return self._shots.multinomial(n, pvals)


def install_streams(backends: list, start: int) -> None:
    """Give each ``NoisyAttention`` of a point the per-image streams from image ``start`` on."""
    for backend in backends:
        backend.rng = ImageStreams(backend.seed, start)


def gather_cat(ranks: Ranks, x: torch.Tensor) -> torch.Tensor:
    """The ranks' tensors concatenated along dim 0 in rank order (this rank's alone without a group)."""
    if not ranks.active:
        return x
    return torch.cat(ranks.gather(x))


def merge_records(ranks: Ranks, backends: list) -> None:
    """Replace each backend's ``record`` lists by those of all ranks, in rank (image) order."""
    if not ranks.active:
        return
    names = ("abs_error", "fidelity", "half_difference_rms")
    mine = [{k: getattr(b.record, k) for k in names} for b in backends]
    everyone = ranks.gather(mine)
    for k, backend in enumerate(backends):
        for name in names:
            setattr(backend.record, name, [x for rank in everyone for x in rank[k][name]])
