"""Nearest-neighbour parity walks for the Möttönen tree (passes/parity_walk.py): every walk is the
tree's unitary followed by a permutation of its qubits, on every input, with CNOTs on couplers
only."""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import pytest

import hqvit.passes.parity_walk as pw
from hqvit.ir.angles import Angle
from hqvit.ir.circuit import AmplitudeEncode, Circuit, Gate, Segment
from hqvit.ir.encoding import encoding_symbols
from tests.helpers import assert_equivalent


def _line(n: int) -> list[tuple[int, int]]:
    return [(i, i + 1) for i in range(n - 1)]


def _grid(rows: int, cols: int) -> list[tuple[int, int]]:
    g = nx.convert_node_labels_to_integers(nx.grid_2d_graph(rows, cols), ordering="sorted")
    return sorted(g.edges())


def _heavy_hex_piece() -> list[tuple[int, int]]:
    # a backbone path with pendants, as in a heavy-hex row
    return [(0, 1), (1, 2), (2, 3), (3, 4), (1, 5), (3, 6)]


SHAPES = {
    "line5": (5, _line(5), [0, 1, 2, 3, 4]),
    "line6-mid-root": (6, _line(6), [2, 3, 1, 4, 0, 5]),
    "grid2x3": (6, _grid(2, 3), [1, 4, 0, 2, 3, 5]),
    "heavy-hex-piece": (7, _heavy_hex_piece(), [1, 2, 0, 5, 3, 4, 6]),
}


def _walk_circuit(n: int, walk: pw.TreeWalk) -> Circuit:
    ops = []
    for op in walk.ops:
        if op.kind == "cx":
            ops.append(Gate("cx", (op.a, op.b)))
        else:
            ops.append(Gate("ry", (op.a,), (Angle.symbol(f"x{op.level}_{op.step}"),)))
    return Circuit(n, [Segment("encode", ops)], {s: "data" for s in encoding_symbols("x", n)})


def _check(n: int, edges, order, walk: pw.TreeWalk, zero_steps: tuple[tuple[int, ...], ...] = ()) -> None:
    """The walk against the Gray-code tree (without the ``zero_steps`` rotations) on every basis
    input (the whole unitary), with level j starting on wire order[j] and ending on the wire that
    holds it."""
    coupled = {frozenset(e) for e in edges}
    assert all(frozenset((op.a, op.b)) in coupled for op in walk.ops if op.kind == "cx")
    tree = AmplitudeEncode(tuple(range(n)), "x", zero_steps)
    logical = Circuit(n, [Segment("encode", [tree])], {s: "data" for s in encoding_symbols("x", n)})
    final = [walk.final_variable.index(j) for j in range(n)]
    assert_equivalent(
        _walk_circuit(n, walk), logical, initial_layout=list(order), final_layout=final, exact=True, trials=2
    )


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_tree_walk_is_the_tree_up_to_a_permutation_on_every_input(name):
    n, edges, order = SHAPES[name]
    walk = pw.walk_tree(n, edges, order, seed=1)
    _check(n, edges, order, walk)
    assert walk.cnots < 2 * ((1 << n) - 2)  # far below a generic routing of the Gray code


def test_doubled_levels_are_exact(monkeypatch):
    """Levels above SEARCH_LEVELS are split in two halves walked forwards and backwards."""
    monkeypatch.setattr(pw, "SEARCH_LEVELS", 2)
    monkeypatch.setattr(pw, "PATH_SEARCH_LEVELS", 2)
    calls = []
    real = pw._doubled_walk
    monkeypatch.setattr(pw, "_doubled_walk", lambda *a: calls.append(a[2]) or real(*a))
    for name in ("line5", "grid2x3"):
        n, edges, order = SHAPES[name]
        _check(n, edges, order, pw.walk_tree(n, edges, order))
    assert 3 in calls and 4 in calls


def _random_skips(n: int, rng: np.random.Generator, fraction: float):
    """Per level, a random set of parity masks and the Gray steps they stand for."""
    skips, steps = [], []
    for k in range(n):
        masks = frozenset(int(m) for m in np.flatnonzero(rng.random(1 << k) < fraction))
        skips.append(masks)
        steps.append(tuple(sorted(pw.gray_step_of_parity(k)[m] for m in masks)))
    return tuple(skips), tuple(steps)


@pytest.mark.parametrize("name", ["line6-mid-root", "grid2x3", "heavy-hex-piece"])
def test_skipped_parities_are_not_rotated_and_the_rest_is_exact(name, monkeypatch):
    """A specialized tree (some angles identically zero) walks only the other parities, searched
    and doubled; the walk equals the tree without those rotations on every input."""
    n, edges, order = SHAPES[name]
    skips, steps = _random_skips(n, np.random.default_rng(3), 0.3)
    walk = pw.walk_tree(n, edges, order, seed=1, skips=skips)
    _check(n, edges, order, walk, steps)
    assert sum(op.kind == "ry" for op in walk.ops) == (1 << n) - 1 - sum(len(s) for s in skips)
    monkeypatch.setattr(pw, "SEARCH_LEVELS", 2)
    monkeypatch.setattr(pw, "PATH_SEARCH_LEVELS", 2)
    _check(n, edges, order, pw.walk_tree(n, edges, order, skips=skips), steps)
    every = tuple(frozenset(range(1 << k)) for k in range(n))  # nothing to rotate: only clean-up
    empty = pw.walk_tree(n, edges, order, skips=every)
    assert not any(op.kind == "ry" for op in empty.ops)


def test_the_replay_check_rejects_a_rotation_of_a_skipped_parity():
    n, edges, order = SHAPES["line5"]
    full = pw.walk_tree(n, edges, order)
    rotated = {(op.level, op.step) for op in full.ops if op.kind == "ry"}
    level, step = max(rotated)
    mask = {s: m for m, s in pw.gray_step_of_parity(level).items()}[step]
    skips = tuple(frozenset([mask]) if k == level else frozenset() for k in range(n))
    with pytest.raises(AssertionError):
        pw.check_tree_walk(n, edges, order, full.ops, full.final_variable, skips)


def test_desired_end_positions_are_honoured():
    n, edges, order = SHAPES["grid2x3"]
    desired = {5: 5, 2: 4, 1: 3}
    walk = pw.walk_tree(n, edges, order, desired=desired)
    assert all(walk.final_variable[w] == v for w, v in desired.items())
    _check(n, edges, order, walk)


def test_the_replay_check_rejects_a_broken_walk():
    n, edges, order = SHAPES["line5"]
    walk = pw.walk_tree(n, edges, order)
    pw.check_tree_walk(n, edges, order, walk.ops, walk.final_variable)
    first_cx = next(i for i, op in enumerate(walk.ops) if op.kind == "cx" and i > 3)
    broken = walk.ops[:first_cx] + walk.ops[first_cx + 1 :]
    with pytest.raises(AssertionError):
        pw.check_tree_walk(n, edges, order, broken, walk.final_variable)
    rot = next(i for i, op in enumerate(walk.ops) if op.kind == "ry" and op.level == 3)
    swapped = list(walk.ops)
    swapped[rot] = pw.WalkOp("ry", walk.ops[rot].a, level=3, step=(walk.ops[rot].step + 1) % 8)
    with pytest.raises(AssertionError):
        pw.check_tree_walk(n, edges, order, swapped, walk.final_variable)


@pytest.mark.parametrize("edges", [_line(6), _grid(2, 3), _heavy_hex_piece()[:5]])
def test_cleanup_reaches_a_permutation_along_couplers(edges):
    rng = np.random.default_rng(3)
    n = 1 + max(max(e) for e in edges)
    coupled = {frozenset(e) for e in edges}
    for _ in range(20):
        vals = [1 << i for i in range(n)]
        for _ in range(12):  # a random CNOT network keeps the map invertible
            a, b = edges[rng.integers(len(edges))]
            if rng.integers(2):
                a, b = b, a
            vals[b] ^= vals[a]
        desired = {
            int(w): int(v)
            for w, v in zip(rng.choice(n, 2, replace=False), rng.choice(n, 2, replace=False), strict=True)
        }
        for want in (None, desired):
            fix, out = pw.cleanup_to_permutation(vals, edges, want)
            replay = list(vals)
            for a, b in fix:
                assert frozenset((a, b)) in coupled
                replay[b] ^= replay[a]
            assert replay == out and sorted(out) == [1 << i for i in range(n)]
            assert all(out[w] == 1 << v for w, v in (want or {}).items())


def test_gray_step_of_parity_matches_the_gray_circuit():
    """The parity each Gray step rotates, replayed on the lowered circuit's own CNOTs."""
    from hqvit.ir.encoding import gray_controls

    for k in range(1, 6):
        table = pw.gray_step_of_parity(k)
        parity = 0
        for i, ctrl in enumerate(gray_controls(k)):
            assert table[parity] == i
            parity ^= 1 << ctrl
        assert parity == 0 and sorted(table.values()) == list(range(1 << k))


def test_walks_are_deterministic():
    n, edges, order = SHAPES["heavy-hex-piece"]
    a = pw.walk_tree(n, edges, order, seed=4)
    b = pw.walk_tree(n, edges, order, seed=4)
    assert a.ops == b.ops and a.final_variable == b.final_variable


def test_every_level_order_works_on_a_path():
    n, edges = 4, _line(4)
    for order in itertools.permutations(range(n)):
        _check(n, edges, list(order), pw.walk_tree(n, edges, list(order)))


def _search_calls(monkeypatch, shapes) -> list[tuple]:
    """The ``beam_walk`` calls real walks make on ``shapes`` (searched levels, plain and doubled)."""
    calls = []
    real = pw.beam_walk
    monkeypatch.setattr(pw, "beam_walk", lambda *a: calls.append(a) or real(*a))
    for n, edges, order in shapes:
        for seed in range(2):
            pw.walk_levels(n, edges, order, seed)
    monkeypatch.undo()
    return calls


def test_the_search_shortcuts_change_nothing(monkeypatch):
    """The kernel's enumeration skips only what cannot add a candidate: with and without its
    shortcuts, every search step keeps the same states, moves and rotations."""
    from hqvit.passes.parity_walk_kernel import beam_walk

    shapes = [SHAPES[name] for name in ("grid2x3", "heavy-hex-piece", "line6-mid-root")]
    shapes.append((8, _grid(2, 4), [1, 2, 5, 6, 0, 3, 4, 7]))
    calls = _search_calls(monkeypatch, shapes)
    assert len(calls) > 20
    for args in calls:
        fast, plain = beam_walk(*args), beam_walk(*args, False)
        done = fast[0]
        assert done == plain[0]
        for x, y in zip(fast[1:5], plain[1:5], strict=True):
            assert np.array_equal(x[:done], y[:done])
        for x, y in zip(fast[5:], plain[5:], strict=True):
            assert np.array_equal(x, y)


def test_cleanup_results_are_fresh_lists():
    """Clean-ups are kept per arguments: a caller that edits a result changes no later one."""
    n, edges, _ = SHAPES["grid2x3"]
    vals = [1 << i for i in range(n)]
    vals[1] ^= vals[0]
    vals[4] ^= vals[1]
    fix, out = pw.cleanup_to_permutation(vals, edges)
    fix.append((9, 9))
    out[0] = -1
    again = pw.cleanup_to_permutation(list(vals), edges)
    assert (9, 9) not in again[0] and -1 not in again[1]
    fresh = pw._cleanup.__wrapped__(tuple(vals), tuple(edges), ())
    assert again == (list(fresh[0]), list(fresh[1]))
