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

Shipped walks: the package carries ``walks.json.gz`` (written by ``benchmarks/ship_walks.py``),
the walks the built-in cells ask for, keyed like the cache files, so a first compile of those
cells on a new machine searches nothing. It is read only, loaded once per process, and consulted
after the machine's cache and before a search; an entry passes the same replay as a cache file,
and a missing or unreadable bundle, or an entry that does not decode, is simply not used. A
changed search changes every key, so an old bundle then matches nothing (it costs the search,
never a stale walk). ``HQVIT_SHIPPED_WALKS=off`` ignores it (to measure a cold compile, or in
tests).
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import os
import re
import tempfile
import zlib
from pathlib import Path

from hqvit.passes import parity_walk, parity_walk_kernel
from hqvit.passes.parity_walk import Skips, WalkOp, finish_walk, walk_levels

FORMAT = 1
SHIPPED = Path(__file__).with_name("walks.json.gz")
OFF = ("", "off", "none", "0")


def cache_dir() -> Path | None:
    configured = os.environ.get("HQVIT_CACHE_DIR")
    if configured is not None:
        return None if configured.strip().lower() in OFF else Path(configured).expanduser()
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


def shipped_walks_used() -> bool:
    """False when ``HQVIT_SHIPPED_WALKS`` turns the bundle off (read per call, so a test or a
    benchmark can switch it within a process)."""
    return os.environ.get("HQVIT_SHIPPED_WALKS", "on").strip().lower() not in OFF


# where a record starts in the bundle's text: after its key. Records hold only "cx", "ry" and
# integers, so the pattern matches keys only.
_ENTRY = re.compile(r'"([0-9a-f]{32})"\s*:\s*')


@functools.cache
def _shipped(path: Path) -> tuple[str, dict[str, int]]:
    """The bundle at ``path`` as text, and where each key's record starts in it; read once per
    process, ``("", {})`` when missing or not gzip'd text. Records are decoded one at a time when
    asked for (``_shipped_record``): decoding all of them costs 0.2-0.3 s, finding them 10-25 ms."""
    try:
        text = gzip.decompress(path.read_bytes()).decode()
    except (OSError, EOFError, zlib.error, UnicodeDecodeError):
        return "", {}
    return text, {m.group(1): m.end() for m in _ENTRY.finditer(text)}


def _shipped_record(key: str) -> object | None:
    """The bundle's JSON record for ``key``, None when it has none or it does not decode. Not
    checked here: ``_walk_from`` replays it like a cache file."""
    text, starts = _shipped(SHIPPED)
    if key not in starts:
        return None
    try:
        return json.JSONDecoder().raw_decode(text, starts[key])[0]
    except (ValueError, RecursionError):
        return None


def cached_walk_levels(
    shape: tuple[tuple[int, int], ...], n: int, seed: int, skips: Skips = ()
) -> tuple[list[WalkOp], list[int]]:
    """``walk_levels(n, shape, range(n), seed, skips)``: from the machine's cache, else from the
    shipped bundle, when a copy there passes the replay; else searched and stored in the
    machine's cache. Every source gives the searched walk: the key fixes the search's inputs and
    code, and the replay rejects any record that is not an exact walk of this tree."""
    key = _key(shape, n, seed, skips)
    directory = cache_dir()
    path = directory / "walks" / f"{key}.json" if directory else None
    if path is not None:
        loaded = _load(path, shape, n, skips)
        if loaded is not None:
            return loaded
    if shipped_walks_used():
        record = _shipped_record(key)
        loaded = _walk_from(record, shape, n, skips) if record is not None else None
        if loaded is not None:
            return loaded
    ops, vals = walk_levels(n, list(shape), list(range(n)), seed, skips)
    if path is not None:
        _store(path, ops, vals)
    return ops, vals


def _load(path: Path, shape, n: int, skips: Skips) -> tuple[list[WalkOp], list[int]] | None:
    """The checked walk of the cache file at ``path``, or None (missing, unreadable, wrong)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError, RecursionError):
        return None
    return _walk_from(data, shape, n, skips)


def _walk_from(data, shape, n: int, skips: Skips) -> tuple[list[WalkOp], list[int]] | None:
    """The walk of a stored ``{"ops", "vals"}`` record if the replay accepts it, else None.
    ``finish_walk`` checks it like a fresh walk (CNOTs on the region's couplers only, every
    rotation on its parity, a permutation at the end), so nothing unchecked reaches a circuit."""
    try:
        ops = [WalkOp(str(k), int(a), int(b), int(lv), int(st)) for k, a, b, lv, st in data["ops"]]
        vals = [int(v) for v in data["vals"]]
        if len(vals) != n or any(op.kind not in ("cx", "ry") for op in ops):
            return None
        finish_walk(n, list(shape), list(range(n)), ops, vals, None, skips)  # replay: raises if wrong
    except (ValueError, TypeError, KeyError, IndexError, AssertionError):
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
