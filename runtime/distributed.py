"""Several processes, one job: ``torch.distributed`` as launched by ``torchrun`` (gloo on CPU).

Without a launcher nothing here starts a process group: ``init`` returns the single-process
``Ranks()`` and every caller runs exactly its single-process code. Under ``torchrun`` (which sets
``RANK``, ``WORLD_SIZE``, ``LOCAL_WORLD_SIZE`` and the rendezvous variables) ``init`` joins the
group once per process. The model runs on the CPU (qsim), so the backend is gloo even where a
GPU exists.

Work is split so that the result does not depend on the number of ranks:

- training (``GlobalBatchSampler``): every rank draws the same seeded permutation, the one a
  single process draws, cuts it into the same global batches and takes a contiguous share of
  each; the loss is the sum over the share times world / global batch size, so DDP's average of
  the ranks' gradients is the single-process mean over the global batch;
- evaluation (``shard``): contiguous ranges of whole chunks, so each chunk (a model batch) holds
  the same images whatever the world size, and counts or per-image lists gathered in rank order
  are the single-process ones.

A rank that dies makes the collectives of the others fail (gloo reports the closed connection)
and ``torchrun`` sends the survivors SIGTERM; both become ``RankStopped``, which the CLI prints as
one line (exit 1).
"""

from __future__ import annotations

import math
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist
from torch.utils.data.distributed import DistributedSampler

from hqvit.runtime.threads import idle_cores, threads_for

# a rank waits this long for the others in a collective before the job fails (a hung rank; a
# dead one is reported at once by the closed connection)
TIMEOUT = timedelta(minutes=30)
# per-rank offset of the seeds that draw shots and noise trajectories during training, so the
# ranks do not repeat each other's draws (rank 0 keeps the single-process seed)
RANK_SEED_STRIDE = 1_000_003


class RankStopped(RuntimeError):
    """Another rank of the job failed, or the launcher stopped this one; what was saved is kept."""


@dataclass(frozen=True)
class Ranks:
    """This process's place in the job; the default is a single process without a group."""

    rank: int = 0
    world: int = 1
    local_world: int = 1
    active: bool = False  # a member of the launcher's process group (even with one rank)

    @property
    def main(self) -> bool:
        return self.rank == 0

    def sum(self, values: list[float]) -> list[float]:
        """Element-wise sum over the ranks (float64, so counts stay exact)."""
        if not self.active:
            return list(values)
        t = torch.tensor(values, dtype=torch.float64)
        dist.all_reduce(t)
        return t.tolist()

    def gather(self, obj: object) -> list[object]:
        """Every rank's ``obj``, in rank order, on every rank."""
        if not self.active:
            return [obj]
        out: list[object] = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    def agree(self, error: str | None) -> str | None:
        """Rank 0's ``error`` (or None) on every rank, so all ranks stop, or go on, together."""
        if not self.active:
            return error
        box = [error]
        dist.broadcast_object_list(box, src=0)
        return box[0]


SINGLE = Ranks()


def launched() -> bool:
    """Started by ``torchrun`` (or another launcher that sets the rendezvous variables)."""
    return all(k in os.environ for k in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"))


def _on_sigterm(signum: int, frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # one report, however often the launcher asks
    raise RankStopped("the launcher stopped this rank (SIGTERM): another rank failed or the job was cancelled")


def init() -> Ranks:
    """Join the process group when launched by ``torchrun``; otherwise the single process."""
    if not launched():
        return Ranks()
    if not dist.is_initialized():
        dist.init_process_group("gloo", timeout=TIMEOUT)
        signal.signal(signal.SIGTERM, _on_sigterm)
    world = dist.get_world_size()
    return Ranks(dist.get_rank(), world, int(os.environ.get("LOCAL_WORLD_SIZE", world)), active=True)


def peer_failure(e: BaseException) -> bool:
    """A failed collective (gloo's transport errors, the backend's own error type)."""
    if isinstance(e, RankStopped):
        return True
    backend_error = getattr(dist, "DistBackendError", ())
    text = str(e)
    return isinstance(e, backend_error) or any(k in text for k in ("gloo", "Connection reset", "Connection closed"))


def first_line(e: BaseException) -> str:
    """The gist of a backend error: its first line without gloo's source location and advice."""
    text = (str(e).strip().splitlines() or [type(e).__name__])[0]
    if text.startswith("[") and "] " in text:
        text = text.split("] ", 1)[1]
    return text.split(". ")[0]


def rank_threads(qubits: int, ranks: Ranks, requested: int | None) -> int:
    """``requested``, else ``threads_for`` on this rank's share of the idle cores: the ranks on
    one machine split them, so with at least as many ranks as cores every rank gets one thread
    (a second thread on a busy core measured 5-20x slower, ``runtime.threads``)."""
    if requested is not None:
        return requested
    if ranks.local_world <= 1:
        return threads_for(qubits)
    return threads_for(qubits, cores=max(1, idle_cores() // ranks.local_world), load=0.0)


def requested_threads() -> int | None:
    """``OMP_NUM_THREADS`` when set to a positive integer (``torchrun`` sets 1 for several ranks
    per machine), else None: for the commands without a ``--threads`` option."""
    text = os.environ.get("OMP_NUM_THREADS", "").strip()
    return int(text) if text.isdigit() and int(text) > 0 else None


@contextmanager
def thread_limit(threads: int) -> Iterator[None]:
    """torch's threads and every BLAS / OpenMP pool of the process (numpy's OpenBLAS does not
    follow ``torch.set_num_threads``) at ``threads`` inside, restored after. Numpy's default is
    every core: the trajectory engine then spent 5.2 instead of 3.0 CPU seconds per image (16
    qubits, 8 trajectories, 2-core VM under load) and ran 2x slower."""
    from threadpoolctl import threadpool_limits  # installed with scikit-learn

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with threadpool_limits(limits=threads):
            yield
    finally:
        torch.set_num_threads(before)


def contiguous_grads(model: torch.nn.Module) -> torch.nn.Module:
    """Make every gradient contiguous before it is accumulated: the quantum angles' gradient comes
    back as a strided view of the backend's array, which DDP would copy into its bucket with a
    stride warning on every step. Same values; returns ``model``."""
    for p in model.parameters():
        if p.requires_grad:
            p.register_hook(lambda g: g.contiguous())
    return model


class StepVote:
    """Whether every rank's loss of this step is finite, agreed on without a collective of its
    own: the flag rides in DDP's gradient all-reduce (``attach_vote``), one synchronization per
    step instead of two (each costs a scheduler wake-up of every rank, milliseconds on a loaded
    machine, against ~20 ms of work per rank at --batch 32 on MNIST 16x16).

    The gradients need no vote: after the all-reduce every rank holds the same averaged ones, so
    each rank's own check of them agrees with the others'.
    """

    def __init__(self) -> None:
        self.local = 0.0  # 1.0 when this rank's loss is not finite
        self.bad_ranks: float | None = None  # ranks with a non-finite loss, once the all-reduce ran

    def arm(self, loss: torch.Tensor) -> None:
        """Before ``backward``: this rank's flag for the coming all-reduce."""
        self.local, self.bad_ranks = float(not bool(torch.isfinite(loss))), None

    def hook(self, bucket: dist.GradBucket) -> torch.futures.Future[torch.Tensor]:
        """DDP's default all-reduce (divide by the world size, then sum), with the flag appended to
        the bucket reduced last in the step."""
        buffer = bucket.buffer().div_(dist.get_world_size())
        if not bucket.is_last():
            return dist.all_reduce(buffer, async_op=True).get_future().then(lambda f: f.value()[0])
        flat = torch.cat([buffer, buffer.new_tensor([self.local])])

        def done(f: torch.futures.Future) -> torch.Tensor:
            out = f.value()[0]
            self.bad_ranks = float(out[-1])
            return out[:-1]

        return dist.all_reduce(flat, async_op=True).get_future().then(done)


def _vote_hook(vote, bucket):  # noqa: ANN001, ANN202
    # unannotated: DDP rejects a hook whose annotations are not the classes themselves, and this
    # module's postponed annotations would make them strings
    return vote.hook(bucket)


def attach_vote(net: torch.nn.parallel.DistributedDataParallel) -> StepVote:
    """A ``StepVote`` carried by ``net``'s gradient all-reduce from the next backward on."""
    vote = StepVote()
    net.register_comm_hook(vote, _vote_hook)
    return vote


def share(n: int, rank: int, world: int) -> tuple[int, int]:
    """[lo, hi) of rank ``rank`` in ``n`` items split contiguously; sizes differ by at most one."""
    base, extra = divmod(n, world)
    lo = rank * base + min(rank, extra)
    return lo, lo + base + (1 if rank < extra else 0)


def shard(n: int, ranks: Ranks, chunk: int = 1) -> tuple[int, int]:
    """[lo, hi) of this rank's items when ``n`` items are split into whole chunks of ``chunk``:
    a chunk is never cut, so a batch of ``chunk`` items is the same on any number of ranks."""
    chunks = math.ceil(n / chunk)
    lo, hi = share(chunks, ranks.rank, ranks.world)
    return min(n, lo * chunk), min(n, hi * chunk)


class GlobalBatchSampler(DistributedSampler):
    """Seeded shuffling, one global batch per step, each rank's contiguous share of it.

    Unlike the parent's own ``__iter__`` (a strided share of the permutation, padded with
    repeated samples), the global batches here are exactly those of single-process training
    with the same ``--batch``, with no sample repeated, so any world size takes the same
    optimizer steps. Yields (this rank's indices, global batch size); ``set_epoch`` reseeds.
    """

    def __init__(self, n: int, batch: int, ranks: Ranks, seed: int):
        super().__init__(range(n), num_replicas=ranks.world, rank=ranks.rank, shuffle=True, seed=seed)
        self.n, self.batch = n, batch

    def order(self) -> torch.Tensor:
        # the permutation single-process training has always drawn for (seed, epoch)
        return torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed * 100003 + self.epoch))

    def __iter__(self) -> Iterator[tuple[torch.Tensor, int]]:
        order = self.order()
        for start in range(0, self.n, self.batch):
            batch = order[start : start + self.batch]
            lo, hi = share(len(batch), self.rank, self.num_replicas)
            yield batch[lo:hi], len(batch)

    def __len__(self) -> int:
        return math.ceil(self.n / self.batch)
