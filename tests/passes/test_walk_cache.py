"""The persistent walk cache (passes/walk_cache.py): a stored walk is reused without a search, and
anything wrong in the cache (garbage, a tampered walk, an unwritable location) costs a search,
never a wrong circuit."""

from __future__ import annotations

import json

import pytest

import hqvit.passes.walk_cache as wc

SHAPE = ((0, 1), (1, 2), (2, 3), (3, 4))  # a line of five wires, level labels
N = 5


@pytest.fixture
def searches(monkeypatch, tmp_path):
    monkeypatch.setenv("HQVIT_CACHE_DIR", str(tmp_path))
    calls = []
    real = wc.walk_levels
    monkeypatch.setattr(wc, "walk_levels", lambda *a: calls.append(a) or real(*a))
    return calls


def _files(tmp_path):
    return sorted((tmp_path / "walks").glob("*.json"))


def test_a_stored_walk_is_reused_without_a_search(searches, tmp_path):
    first = wc.cached_walk_levels(SHAPE, N, 3)
    assert len(searches) == 1 and len(_files(tmp_path)) == 1
    assert wc.cached_walk_levels(SHAPE, N, 3) == first
    assert len(searches) == 1
    wc.cached_walk_levels(SHAPE, N, 4)  # another seed is another walk
    skips = (frozenset(), frozenset(), frozenset({1}), frozenset(), frozenset())
    wc.cached_walk_levels(SHAPE, N, 3, skips)  # and so are other skipped parities
    assert len(searches) == 3 and len(_files(tmp_path)) == 3


@pytest.mark.parametrize("damage", ["garbage", "dropped cnot", "wrong values"])
def test_a_damaged_entry_is_searched_again_and_rewritten(searches, tmp_path, damage):
    good = wc.cached_walk_levels(SHAPE, N, 3)
    (path,) = _files(tmp_path)
    data = json.loads(path.read_text())
    if damage == "garbage":
        path.write_text("{not json")
    elif damage == "dropped cnot":
        i = next(i for i, op in enumerate(data["ops"]) if op[0] == "cx")
        path.write_text(json.dumps({**data, "ops": data["ops"][:i] + data["ops"][i + 1 :]}))
    else:
        path.write_text(json.dumps({**data, "vals": data["vals"][::-1]}))
    assert wc.cached_walk_levels(SHAPE, N, 3) == good
    assert len(searches) == 2
    assert json.loads(path.read_text()) == data


def test_off_and_unwritable_locations_only_cost_the_search(searches, tmp_path, monkeypatch):
    monkeypatch.setenv("HQVIT_CACHE_DIR", "off")
    a = wc.cached_walk_levels(SHAPE, N, 3)
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    monkeypatch.setenv("HQVIT_CACHE_DIR", str(blocked))  # walks/ cannot be created under a file
    assert wc.cached_walk_levels(SHAPE, N, 3) == a
    assert len(searches) == 2 and not (tmp_path / "walks").exists()
