"""A persistent cache of parity walks: a region shape is searched once per machine, not per process.

A tree's walk (``parity_walk.walk_levels``) depends only on the region's couplers in level labels,
the tree size, the seed, the skipped parities and the search code. The key hashes all of them,
the source of ``parity_walk`` and its kernel included, so a changed search never reads an old
walk. Nothing read back is trusted: a cached walk is replayed and checked
(``parity_walk.finish_walk``, the same check every fresh walk passes) before use, and a file that
is unreadable, malformed or fails the replay is searched again and rewritten. Files are JSON,
never pickle, so a planted file cannot run code; they are written to a temporary name and renamed,
so a crash never leaves half a file.

Location: ``$HQVIT_CACHE_DIR``, else ``$XDG_CACHE_HOME/hqvit``, else ``~/.cache/hqvit``;
``HQVIT_CACHE_DIR=off`` turns the cache off. A location that cannot be written only costs the
search.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
from pathlib import Path

from hqvit.passes import parity_walk, parity_walk_kernel
from hqvit.passes.parity_walk import Skips, WalkOp, finish_walk, walk_levels

FORMAT = 1


def cache_dir() -> Path | None:
    configured = os.environ.get("HQVIT_CACHE_DIR")
    if configured is not None:
        return None if configured.strip().lower() in ("", "off", "none", "0") else Path(configured).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "hqvit"


@functools.cache
def _code_version() -> str:
    h = hashlib.sha256()
    for module in (parity_walk, parity_walk_kernel):
        h.update(Path(module.__file__).read_bytes())
    return h.hexdigest()[:16]


def _key(shape: tuple[tuple[int, int], ...], n: int, seed: int, skips: Skips) -> str:
    text = json.dumps([FORMAT, _code_version(), shape, n, seed, [sorted(s) for s in skips]])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def cached_walk_levels(
    shape: tuple[tuple[int, int], ...], n: int, seed: int, skips: Skips = ()
) -> tuple[list[WalkOp], list[int]]:
    """``walk_levels(n, shape, range(n), seed, skips)``, from the cache when a checked copy exists."""
    directory = cache_dir()
    path = directory / "walks" / f"{_key(shape, n, seed, skips)}.json" if directory else None
    if path is not None:
        loaded = _load(path, shape, n, skips)
        if loaded is not None:
            return loaded
    ops, vals = walk_levels(n, list(shape), list(range(n)), seed, skips)
    if path is not None:
        _store(path, ops, vals)
    return ops, vals


def _load(path: Path, shape, n: int, skips: Skips) -> tuple[list[WalkOp], list[int]] | None:
    try:
        data = json.loads(path.read_text())
        ops = [WalkOp(str(k), int(a), int(b), int(lv), int(st)) for k, a, b, lv, st in data["ops"]]
        vals = [int(v) for v in data["vals"]]
        if len(vals) != n or any(op.kind not in ("cx", "ry") for op in ops):
            return None
        finish_walk(n, list(shape), list(range(n)), ops, vals, None, skips)  # replay: raises if wrong
    except (OSError, ValueError, TypeError, KeyError, IndexError, AssertionError):
        return None
    return ops, vals


def _store(path: Path, ops: list[WalkOp], vals: list[int]) -> None:
    data = {"ops": [[op.kind, op.a, op.b, op.level, op.step] for op in ops], "vals": list(vals)}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    except OSError:
        return  # a cache that cannot be written costs only the search next time
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, separators=(",", ":"))
        os.replace(tmp, path)
    except OSError:
        Path(tmp).unlink(missing_ok=True)
