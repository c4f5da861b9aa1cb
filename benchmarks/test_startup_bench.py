"""Start-up time of the ``hqvit`` command: a whole process, as a user's shell runs it.

``--help`` and ``targets list`` build the parser and touch no circuit, so they must not load
torch, cirq or the compiler pipeline (issue 11): each should take well under a second.
``extra_info`` holds the median in seconds. Run with ``make bench``.
"""

import subprocess
import sys
from pathlib import Path

import pytest

BUDGET_SECONDS = 1.0


def _hqvit() -> list[str]:
    exe = Path(sys.executable).with_name("hqvit")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "hqvit.cli"]


@pytest.mark.parametrize("args", [["--help"], ["targets", "list"]], ids=["help", "targets-list"])
def test_startup(benchmark, args):
    command = _hqvit() + args
    subprocess.run(command, check=True, capture_output=True)  # warm the file cache: time the start, not the disk
    benchmark.pedantic(lambda: subprocess.run(command, check=True, capture_output=True), rounds=5, iterations=1)
    median = benchmark.stats.stats.median
    benchmark.extra_info["median_seconds"] = round(median, 3)
    assert median < BUDGET_SECONDS, f"hqvit {' '.join(args)} took {median:.2f} s to start"
