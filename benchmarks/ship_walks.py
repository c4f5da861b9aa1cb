"""Write the parity walks shipped with the package (``passes/walks.json.gz``), or check them.

The synthesis path searches a walk per region shape, tree size, seed and skipped parities
(``passes/walk_cache.py``); the search costs seconds per cell, once per machine. The bundle holds
the walks the built-in cells ask for, so their first compile on a new machine reads them instead.

Cells: digits 8x8, MNIST 16x16 and MNIST 32x32 (patch 4x4), at --opt 1, 2 and 3, seed 0, on every
named target with a coupling graph (the synthesis path does not apply to the fully connected
ion traps) and on the generic graphs of the benchmarks and README: line:13, line:17, line:21,
grid:4x4, grid:5x5, heavy-hex:5. A cell too large for its target is skipped. The Google targets
need the ``google`` extra: without it this stops rather than write a bundle that lacks them.

Writing compiles every cell with an empty temporary walk cache and the bundle ignored, so each
walk is searched (and stored in that cache) the first time any cell asks for it; the bundle is
then exactly the keys asked, each with its stored walk. The output is deterministic: sorted keys,
fixed gzip header (no time, no name), so an unchanged search writes the same bytes.

``--check`` compiles the same cells with an empty walk cache and the bundle in use, and lists the
keys the bundle lacks, the entries the replay rejects and the entries no cell asks for; it exits
1 unless there are none. The keys hash the search code (``parity_walk.py`` and its kernel), so
after any change there the bundle matches nothing until it is written again.

    python benchmarks/ship_walks.py [--check]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from hqvit.compiler.hqvit import HQViTConfig, build_attention_circuit
from hqvit.compiler.pipeline import compile_hqvit
from hqvit.passes import walk_cache
from hqvit.targets import resolve_target
from hqvit.targets.registry import CATALOGUE

CONFIGS = [
    ("digits 8x8", HQViTConfig((8, 8), (4, 4))),
    ("MNIST 16x16", HQViTConfig((16, 16), (4, 4))),
    ("MNIST 32x32", HQViTConfig((32, 32), (4, 4))),
]
GENERIC = ["line:13", "line:17", "line:21", "grid:4x4", "grid:5x5", "heavy-hex:5"]
OPTS = (1, 2, 3)


def target_names() -> list[str]:
    """The named targets of the catalogue (no ``:`` pattern) that have a coupling graph, then the
    generic graphs. Resolving a Google target without its extra raises: never a silent gap."""
    named = [name for name, _ in CATALOGUE if ":" not in name]
    return [name for name in named if not resolve_target(name).fully_connected] + GENERIC


def cells() -> list[tuple[str, HQViTConfig, str, int]]:
    """(size, config, target, opt) of every cell whose logical qubits fit on its target."""
    out = []
    for target in target_names():
        usable = len(resolve_target(target).usable_qubits)
        for size, cfg in CONFIGS:
            if _logical_qubits(cfg) <= usable:
                out += [(size, cfg, target, opt) for opt in OPTS]
    return out


def _logical_qubits(cfg: HQViTConfig) -> int:
    return build_attention_circuit(cfg).num_qubits


@contextmanager
def recording_keys() -> Iterator[set[str]]:
    """Every key ``cached_walk_levels`` computes while inside (it computes one per call, before
    any lookup), by wrapping the module's ``_key``, which it looks up at each call."""
    asked: set[str] = set()
    real: Callable[..., str] = walk_cache._key

    def recording(*args) -> str:
        key = real(*args)
        asked.add(key)
        return key

    walk_cache._key = recording
    try:
        yield asked
    finally:
        walk_cache._key = real


@contextmanager
def environment(**values: str) -> Iterator[None]:
    """``os.environ`` with ``values`` set while inside, restored after."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def compile_all(shipped: str) -> tuple[set[str], dict[str, dict]]:
    """Compile every cell with an empty walk cache, the bundle used or not (``shipped`` is
    ``HQVIT_SHIPPED_WALKS``): the keys asked, and the walks searched (key -> stored record)."""
    chosen = cells()
    with tempfile.TemporaryDirectory() as tmp:
        with environment(HQVIT_CACHE_DIR=tmp, HQVIT_SHIPPED_WALKS=shipped), recording_keys() as asked:
            for k, (size, cfg, target, opt) in enumerate(chosen, 1):
                t0 = time.perf_counter()
                compile_hqvit(cfg, resolve_target(target), opt=opt, seed=0)
                print(
                    f"[{k}/{len(chosen)}] {size} on {target} --opt {opt}: {time.perf_counter() - t0:.1f} s, "
                    f"{len(asked)} keys so far",
                    flush=True,
                )
        searched = {p.stem: json.loads(p.read_text()) for p in sorted((Path(tmp) / "walks").glob("*.json"))}
    return asked, searched


def encode(walks: dict[str, dict]) -> bytes:
    """The bundle's bytes: JSON with sorted keys, gzip with no time or name in its header."""
    text = json.dumps(walks, sort_keys=True, separators=(",", ":"))
    return gzip.compress(text.encode(), compresslevel=9, mtime=0)


def write(path: Path) -> int:
    """Search every walk the cells ask for and write them to ``path``; returns 0."""
    asked, searched = compile_all("off")
    if set(searched) != asked:  # every asked key was searched once: the cache started empty
        raise SystemExit(f"walk cache incomplete: {len(asked - set(searched))} asked keys were not stored")
    data = encode(searched)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
    print(f"wrote {path}: {len(searched)} walks, {len(data)} bytes")
    return 0


def check(path: Path) -> int:
    """1 unless the bundle at ``path`` (the one the package reads) serves every walk the cells
    ask for and nothing else."""
    _, starts = walk_cache._shipped(path)
    bundle = set(starts)
    asked, searched = compile_all("on")
    missing = sorted(asked - set(bundle))
    rejected = sorted(set(searched) & set(bundle))  # in the bundle, yet searched: the replay refused it
    unused = sorted(set(bundle) - asked)
    print(f"{path}: {len(bundle)} entries; {len(asked)} keys asked")
    for label, keys in (("missing", missing), ("rejected by the replay", rejected), ("asked by no cell", unused)):
        print(f"  {label}: {len(keys)}" + (f" (e.g. {', '.join(keys[:3])})" if keys else ""))
    if missing or rejected or unused:
        print("the bundle is not current: run python benchmarks/ship_walks.py")
        return 1
    print("the bundle is current")
    return 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="report whether the bundle has every walk needed")
    args = ap.parse_args()
    path = walk_cache.SHIPPED
    sys.exit(check(path) if args.check else write(path))


if __name__ == "__main__":
    main()
