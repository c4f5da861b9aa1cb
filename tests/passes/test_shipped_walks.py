"""The walks shipped with the package (passes/walks.json.gz, read by passes/walk_cache.py): the
built-in cells find every walk there, a compile reading them equals one that searches, and a
wrong entry or a missing or unreadable bundle costs a search, never a wrong circuit."""

from __future__ import annotations

import gzip
import json

import pytest

import hqvit.passes.synthesize_hqvit as sh
import hqvit.passes.walk_cache as wc
from hqvit.compiler.hqvit import HQViTConfig
from hqvit.compiler.pipeline import compile_hqvit
from hqvit.targets import resolve_target

DIGITS = HQViTConfig((8, 8), (4, 4))
MNIST16 = HQViTConfig((16, 16), (4, 4))
SHAPE = ((0, 1), (1, 2), (2, 3), (3, 4))  # a line of five wires, level labels
N = 5


def _forget_walks() -> None:
    """Empty the synthesis pass's in-process walk caches, so its next compile asks
    ``cached_walk_levels`` again instead of reusing what an earlier test computed."""
    for f in vars(sh).values():
        if hasattr(f, "cache_clear"):
            f.cache_clear()


@pytest.fixture
def walks(monkeypatch, tmp_path):
    """An empty per-machine cache; records the keys asked and the searches made."""
    monkeypatch.setenv("HQVIT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("HQVIT_SHIPPED_WALKS", raising=False)
    asked, searched = [], []
    real_key, real_search = wc._key, wc.walk_levels

    def key(*args):
        asked.append(real_key(*args))
        return asked[-1]

    monkeypatch.setattr(wc, "_key", key)
    monkeypatch.setattr(wc, "walk_levels", lambda *a: searched.append(a) or real_search(*a))
    _forget_walks()
    yield asked, searched
    _forget_walks()


def _output(compiled) -> tuple:
    return (
        [(s.name, s.ops) for s in compiled.circuit.segments],
        list(compiled.initial_layout),
        list(compiled.final_layout),
        [[(g.name, g.qubits) for g in m] for m in compiled.schedule.moments],
    )


class Searched(Exception):
    """A walk search where the bundle should have served the walk."""


def test_the_built_in_cells_search_no_walk(walks, monkeypatch):
    asked, searched = walks

    def no_search(*args):
        searched.append(args)
        raise Searched

    monkeypatch.setattr(wc, "walk_levels", no_search)
    for cfg, target, opt in [(DIGITS, "grid:4x4", 3), (DIGITS, "ibm-torino", 3), (MNIST16, "line:17", 1)]:
        try:
            compile_hqvit(cfg, resolve_target(target), opt=opt, seed=0)
        except Searched:
            pass  # reported below, with what to do
        assert not searched, (
            f"{len(searched)} walk(s) of {target} --opt {opt} are not in passes/walks.json.gz: the search code "
            "or the regions the synthesis asks for changed; run python benchmarks/ship_walks.py"
        )
    assert len(set(asked)) >= 10  # the cells did ask for walks: the bundle served them


def test_a_compile_reading_the_bundle_equals_one_that_searches(walks, monkeypatch, tmp_path):
    asked, searched = walks
    shipped = compile_hqvit(DIGITS, resolve_target("grid:4x4"), opt=1, seed=0)
    assert asked and not searched
    _forget_walks()
    monkeypatch.setenv("HQVIT_SHIPPED_WALKS", "off")
    monkeypatch.setenv("HQVIT_CACHE_DIR", str(tmp_path / "empty"))
    fresh = compile_hqvit(DIGITS, resolve_target("grid:4x4"), opt=1, seed=0)
    assert len(searched) == len(set(asked))  # ignored: every walk searched
    assert _output(shipped) == _output(fresh)


def _bundle(tmp_path, monkeypatch, entries: dict) -> None:
    """Point the module at a new bundle file (a new name: ``_shipped`` reads each path once)."""
    path = tmp_path / f"walks-{len(list(tmp_path.glob('walks-*')))}.json.gz"
    path.write_bytes(gzip.compress(json.dumps(entries).encode()))
    monkeypatch.setattr(wc, "SHIPPED", path)


def _record(ops, vals) -> dict:
    return {"ops": [[op.kind, op.a, op.b, op.level, op.step] for op in ops], "vals": list(vals)}


def test_a_bundle_entry_is_used_after_the_cache_and_only_if_it_replays(walks, tmp_path, monkeypatch):
    asked, searched = walks
    monkeypatch.setenv("HQVIT_CACHE_DIR", "off")
    good = wc.walk_levels(N, list(SHAPE), list(range(N)), 3)
    key = wc._key(SHAPE, N, 3, ())
    searched.clear()
    _bundle(tmp_path, monkeypatch, {key: _record(*good)})
    assert wc.cached_walk_levels(SHAPE, N, 3) == good and not searched
    monkeypatch.setenv("HQVIT_SHIPPED_WALKS", "off")
    assert wc.cached_walk_levels(SHAPE, N, 3) == good and len(searched) == 1

    monkeypatch.delenv("HQVIT_SHIPPED_WALKS")
    ops = _record(*good)["ops"]
    i = next(i for i, op in enumerate(ops) if op[0] == "cx")
    _bundle(tmp_path, monkeypatch, {key: {**_record(*good), "ops": ops[:i] + ops[i + 1 :]}})
    assert wc.cached_walk_levels(SHAPE, N, 3) == good and len(searched) == 2  # refused, searched


UNREADABLE = {
    "empty": b"",
    "not gzip": b"not gzip",
    "not json": gzip.compress(b"{not json"),
    "not an object": gzip.compress(b"[1, 2]"),
    "entry cut short": gzip.compress(b'{"%s": {"ops": [["ry", 0, -1, 0, 0], [' % wc._key(SHAPE, N, 3, ()).encode()),
    "entry nested too deep": gzip.compress(b'{"%s": ' % wc._key(SHAPE, N, 3, ()).encode() + b"[" * 100_000),
}


@pytest.mark.parametrize("bundle", ["missing", *UNREADABLE])
def test_a_missing_or_unreadable_bundle_only_costs_the_search(walks, tmp_path, monkeypatch, bundle):
    _, searched = walks
    path = tmp_path / "walks.json.gz"
    if bundle != "missing":
        path.write_bytes(UNREADABLE[bundle])
    monkeypatch.setattr(wc, "SHIPPED", path)
    good = wc.cached_walk_levels(SHAPE, N, 3)
    assert len(searched) == 1
    assert good == wc.walk_levels(N, list(SHAPE), list(range(N)), 3)


def test_the_machine_cache_comes_before_the_bundle(walks, tmp_path, monkeypatch):
    _, searched = walks
    shape = (*SHAPE, (0, 2), (1, 3))  # chords: seeds 3 and 4 find different walks
    seed3 = wc.cached_walk_levels(shape, N, 3)  # searched, stored in the machine's cache
    seed4 = wc.walk_levels(N, list(shape), list(range(N)), 4)
    assert seed4 != seed3  # another exact walk of the same tree: the replay accepts it
    _bundle(tmp_path, monkeypatch, {wc._key(shape, N, 3, ()): _record(*seed4)})
    assert wc.cached_walk_levels(shape, N, 3) == seed3
    monkeypatch.setenv("HQVIT_CACHE_DIR", str(tmp_path / "empty"))
    assert wc.cached_walk_levels(shape, N, 3) == seed4
