import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("TQDM_DISABLE", "1")
# the per-machine walk cache starts empty for every run (subprocesses inherit it): tests see a
# first compile on a new machine (built-in cells read the walks shipped with the package)
os.environ.setdefault("HQVIT_CACHE_DIR", tempfile.mkdtemp(prefix="hqvit-test-cache-"))


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def hqvit_cmd() -> list[str]:
    """The installed console script, run in a subprocess like a user would."""
    exe = Path(sys.executable).with_name("hqvit")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "hqvit.cli"]
