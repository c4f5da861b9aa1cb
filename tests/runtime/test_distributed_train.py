"""DistributedDataParallel training (``runtime.distributed``): the same optimizer steps on any
number of ranks, and a job that loses a rank keeps its last checkpoint.

The ranks are forked from the test process (the modules are already imported, so a rank starts
in milliseconds) and join a gloo group on a free port, as under ``torchrun``; the failure test
runs the real ``torchrun`` and ``hqvit`` commands.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from hqvit.runtime.checkpoint import load_checkpoint
from hqvit.runtime.data import load_dataset
from hqvit.runtime.distributed import GlobalBatchSampler, Ranks, attach_vote, init, shard
from hqvit.runtime.model import VisionTransformer
from hqvit.runtime.train import TrainConfig, _all_finite, seed_everything, train

TORCHRUN = Path(sys.executable).with_name("torchrun")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(autouse=True, scope="module")
def warm_imports() -> None:
    """Import what training loads lazily (torch's compiler stack via Adam, sklearn's digits) once
    here, so each forked rank starts with it loaded instead of spending seconds on it."""
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])
    load_dataset("digits", (8, 8))


def _rank_main(rank: int, world: int, port: int, fn, args: tuple, queue) -> None:
    # one thread, as torchrun's ranks on this machine: a forked child must not enter the OpenMP
    # pool its parent started (that can hang)
    torch.set_num_threads(1)
    if world:  # what torchrun sets for each rank
        os.environ.update(
            RANK=str(rank),
            LOCAL_RANK=str(rank),
            WORLD_SIZE=str(world),
            LOCAL_WORLD_SIZE=str(world),
            MASTER_ADDR="127.0.0.1",
            MASTER_PORT=str(port),
        )
    # plain pickle: the queue's own pickler would share tensors through files that vanish with the rank
    try:
        queue.put((rank, pickle.dumps(fn(*args))))
    except BaseException as e:  # noqa: BLE001 - handed to the test, which raises it
        queue.put((rank, pickle.dumps(e)))
    finally:
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def run_ranks(world: int, fn, *args) -> list:
    """``fn(*args)`` in ``world`` forked ranks of one gloo group (``world`` 0: one process without
    a group, the single-machine default); the results in rank order."""
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    port = free_port()
    procs = [ctx.Process(target=_rank_main, args=(r, world, port, fn, args, queue)) for r in range(max(world, 1))]
    for p in procs:
        p.start()
    results = {r: pickle.loads(b) for r, b in (queue.get(timeout=120) for _ in procs)}
    for p in procs:
        p.join(timeout=60)
    for r in sorted(results):
        if isinstance(results[r], BaseException):
            raise results[r]
    return [results[r] for r in sorted(results)]


def _train_and_load(cfg: TrainConfig) -> dict:
    result = train(cfg, log=lambda m: None)
    ckpt = load_checkpoint(Path(cfg.out) / "checkpoint.pt") if result["rank"] == 0 else None
    return {"result": result, "model": ckpt["model"] if ckpt else None}


def initial_state(cfg: TrainConfig) -> dict:
    """The parameters training starts from (its seeded initialization)."""
    seed_everything(cfg.seed)
    return VisionTransformer(cfg.model_config(10), backend="exact").state_dict()


def test_global_batches_are_the_single_process_batches_shared_out():
    single = list(GlobalBatchSampler(23, 5, Ranks(), seed=3))
    for world in (2, 3, 7):
        per_rank = [list(GlobalBatchSampler(23, 5, Ranks(r, world, world), seed=3)) for r in range(world)]
        for step, (indices, n) in enumerate(single):
            shares = [per_rank[r][step] for r in range(world)]
            assert all(g == n for _, g in shares)
            assert torch.equal(torch.cat([s for s, _ in shares]), indices)  # contiguous, in order, none repeated
    assert shard(40, Ranks(1, 2, 2), 16) == (32, 40)  # whole chunks: 0-31 on rank 0, the rest on rank 1


@pytest.mark.parametrize(
    ("backend", "batch"),
    [("qsim", 9), ("exact", 31)],  # 9: shares of 5 and 4; 31: the last batch (1 image) leaves rank 1 empty
)
def test_two_ranks_take_the_single_process_steps(tmp_path, backend, batch):
    def cfg(name: str) -> TrainConfig:
        return TrainConfig(
            dataset="digits", limit=40, epochs=2, batch=batch, lr=0.05, backend=backend, out=str(tmp_path / name)
        )

    (one,) = run_ranks(0, _train_and_load, cfg("one"))
    two = run_ranks(2, _train_and_load, cfg("two"))
    assert two[0]["result"]["ranks"] == 2 and two[1]["model"] is None  # rank 0 alone writes
    assert not (tmp_path / "two" / "checkpoint.pt.tmp").exists()
    moved = 0.0
    for name, value in one["model"].items():
        assert torch.allclose(two[0]["model"][name], value, rtol=0, atol=1e-5), name
        moved = max(moved, float((value - initial_state(cfg("x"))[name]).abs().max()))
    assert moved > 1e-2  # the steps changed the parameters: this is not two initializations compared
    h1, h2 = one["result"]["history"], two[0]["result"]["history"]
    assert [e["train_accuracy"] for e in h1] == [e["train_accuracy"] for e in h2]
    assert h1[-1]["loss"] == pytest.approx(h2[-1]["loss"], abs=1e-5)
    assert two[1]["result"]["history"] == h2  # every rank reports the same figures


class _NoCollective(Ranks):
    def sum(self, values: list[float]) -> list[float]:
        raise AssertionError("the finite check ran a collective of its own")


def _vote_step(bad_rank: int) -> tuple[bool, list[float]]:
    """One DDP step of a tiny model in which rank ``bad_rank``'s loss (only) is NaN, its
    gradients finite: (this rank's finite verdict, the averaged gradient)."""
    ranks = init()
    torch.manual_seed(0)
    model = torch.nn.Linear(2, 1, bias=False)
    net = torch.nn.parallel.DistributedDataParallel(model)
    vote = attach_vote(net)
    loss = net(torch.full((1, 2), float(ranks.rank + 1))).sum()
    if ranks.rank == bad_rank:
        loss = loss + float("nan")  # the loss alone: d(loss)/dw is unchanged
    vote.arm(loss)
    loss.backward()
    verdict = _all_finite(loss, model, _NoCollective(ranks.rank, ranks.world, ranks.world, active=True), vote)
    return verdict, model.weight.grad.flatten().tolist()


@pytest.mark.parametrize("bad_rank", [None, 0, 1])
def test_the_finite_loss_vote_rides_the_gradient_all_reduce(bad_rank):
    verdicts = run_ranks(2, _vote_step, bad_rank)
    assert [v for v, _ in verdicts] == [bad_rank is None] * 2  # every rank stops, or goes on, together
    assert all(g == [1.5, 1.5] for _, g in verdicts)  # the mean of the ranks' gradients (1 and 2)


def _rank_pid(launcher: subprocess.Popen, rank: int) -> int | None:
    """The PID of torchrun's worker with RANK=``rank`` (its children, read from /proc)."""
    children = Path(f"/proc/{launcher.pid}/task/{launcher.pid}/children")
    for pid in children.read_text().split() if children.exists() else []:
        try:
            env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"RANK={rank}".encode() in env:
            return int(pid)
    return None


def _cli_rank(argv: list[str], stderr: str) -> int:
    """``hqvit ARGV`` in this rank with its stderr in a file; the exit status."""
    from hqvit.cli.main import main

    fd = os.open(stderr, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(fd, 2)
    sys.stderr = os.fdopen(2, "w", buffering=1)
    return main(argv)


def _start_ranks(world: int, fn, *args) -> tuple[list[mp.Process], mp.Queue]:
    ctx = mp.get_context("fork")
    port, queue = free_port(), ctx.Queue()
    procs = [ctx.Process(target=_rank_main, args=(r, world, port, fn, args, queue)) for r in range(world)]
    for p in procs:
        p.start()
    return procs, queue


TRAIN = ["train", "--dataset", "digits", "--limit", "40", "--batch", "8"]


def _resumes_on_one_rank(out: Path, resumed: Path) -> None:
    """The checkpoint of a failed job loads and one process (no launcher) continues from it."""
    from hqvit.cli.main import main

    ckpt = load_checkpoint(out / "checkpoint.pt")
    done = ckpt["epoch"]
    assert done >= 1 and not list(out.glob("*.tmp"))
    code = main([*TRAIN, "--epochs", str(done + 1), "--resume", str(out / "checkpoint.pt"), "--out", str(resumed)])
    assert code == 0
    after = load_checkpoint(resumed / "checkpoint.pt")
    assert after["epoch"] == done + 1 and after["history"][:done] == ckpt["history"]


def test_a_killed_rank_stops_the_others_with_one_line_and_the_checkpoint_resumes_on_one_rank(tmp_path):
    out = tmp_path / "run"
    argv = [*TRAIN, "--epochs", "100000", "--out", str(out)]
    procs, statuses = _start_ranks(2, _cli_rank, argv, str(tmp_path / "rank0.err"))
    try:
        deadline = time.monotonic() + 60
        while not (out / "checkpoint.pt").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(procs[1].pid, signal.SIGKILL)
        rank, status = statuses.get(timeout=60)
    finally:
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()
    assert (rank, pickle.loads(status)) == (0, 1)  # rank 0's hqvit exits 1 (EXIT_FAILED)
    err = (tmp_path / "rank0.err").read_text().splitlines()
    assert len(err) == 1 and err[0].startswith("hqvit: error: rank 0 of 2 stopped"), err
    assert "another rank failed" in err[0] and "the last checkpoint (epoch" in err[0], err[0]
    _resumes_on_one_rank(out, tmp_path / "resumed")


@pytest.mark.slow
@pytest.mark.skipif(not TORCHRUN.exists() or not Path("/proc").exists(), reason="needs torchrun and /proc")
def test_under_torchrun_a_killed_rank_fails_the_job_with_one_line(tmp_path):
    out = tmp_path / "run"
    launcher = subprocess.Popen(
        [str(TORCHRUN), "--nproc-per-node", "2", "--master-port", str(free_port()), "-m", "hqvit.cli"]
        + [*TRAIN, "--epochs", "100000", "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TQDM_DISABLE": "1"},
    )
    try:
        deadline = time.monotonic() + 90
        while not (out / "checkpoint.pt").exists() and launcher.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        pid = _rank_pid(launcher, 1)
        assert pid is not None, launcher.stderr.read() if launcher.poll() is not None else "no rank 1"
        os.kill(pid, signal.SIGKILL)
        _, err = launcher.communicate(timeout=60)
    finally:
        if launcher.poll() is None:
            launcher.kill()
    assert launcher.returncode != 0
    ours = [line for line in err.splitlines() if line.startswith("hqvit:")]
    assert len(ours) == 1, err
    assert "rank 0 of 2 stopped" in ours[0] and "checkpoint (epoch" in ours[0], ours[0]
    frames = [line for line in err.splitlines() if line.strip().startswith('File "')]
    assert all("site-packages" in f or f.endswith('torchrun", line 6, in <module>') for f in frames), err  # torchrun's
    _resumes_on_one_rank(out, tmp_path / "resumed")
