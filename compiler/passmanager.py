"""Runs passes in order and records each: the compile's timings add up to its wall time.

A ``PassManager`` is a list of pass modules (``hqvit.passes.base.Pass``); ``best_of`` is a
controller that runs several whole compiles and keeps the best, recording each candidate with its
own passes as children, so nothing a compile spends time on is left out of its records.

A record's two-qubit count and depth are those of the circuit the pass returned. Measuring is a
walk over every gate, after every pass, so a record takes them without walking when they are
known for that very circuit object: ``ctx.properties[FIGURES]`` holds ``(circuit, (two, depth))``
for the latest record's circuit, and a pass may replace it with the figures of the circuit it
returns (``cancel`` has them from its compiled rows). A pass module that sets
``PRESERVES_CIRCUIT = True`` promises to return its input unmodified (``schedule``,
``serialize_crosstalk``), so the figures already held for that object stay right. Passes build
new circuits rather than modify one in place, so a circuit object keeps the figures it was
measured with; the identity test keeps figures of another circuit from ever being used.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Sequence
from typing import TypeVar

from hqvit.ir.circuit import Circuit
from hqvit.ir.metrics import FIGURES, two_qubit_gates_and_depth
from hqvit.passes.base import Pass, PassContext, PassRecord

T = TypeVar("T")


def pass_name(p: Pass) -> str:
    return p.__name__.rsplit(".", 1)[-1]


def measured(name: str, seconds_since: float, circuit: Circuit, figures: tuple[int, int] | None = None) -> PassRecord:
    """A record for ``circuit`` as a pass left it; the time includes measuring it (unless
    ``figures``, its two-qubit count and depth, are given)."""
    two, d = figures if figures is not None else two_qubit_gates_and_depth(circuit)
    return PassRecord(name, round(time.perf_counter() - seconds_since, 6), two, d)


def known_figures(p: Pass, held: tuple | None, circuit: Circuit, properties: dict) -> tuple[int, int] | None:
    """The figures of ``circuit``, which ``p`` returned, if known without measuring: reported by
    ``p`` (an entry it wrote for this object), or held from before ``p`` ran (``held``) when ``p``
    returned that same object and promises to leave its input unmodified."""
    entry = properties.get(FIGURES)
    if entry is None or entry[0] is not circuit:
        return None
    if entry is not held or getattr(p, "PRESERVES_CIRCUIT", False):
        return entry[1]
    return None


class PassManager:
    def __init__(self, passes: Sequence[Pass]) -> None:
        self.passes = list(passes)

    @property
    def names(self) -> list[str]:
        return [pass_name(p) for p in self.passes]

    def run(self, circuit: Circuit, ctx: PassContext, records: list[PassRecord]) -> Circuit:
        props = ctx.properties
        for p in self.passes:
            t0 = time.perf_counter()
            held = props.get(FIGURES)
            circuit = p.run(circuit, ctx)
            figures = known_figures(p, held, circuit, props)
            record = measured(pass_name(p), t0, circuit, figures)
            records.append(record)
            props[FIGURES] = (circuit, (record.two_qubit_gates, record.depth))
            _hold_latest(circuit, props[FIGURES][1])
        return circuit


def best_of(
    name: str,
    candidates: Sequence[tuple[str, Callable[[], T]]],
    score: Callable[[T], float],
    records_of: Callable[[T], list[PassRecord]],
    circuit_of: Callable[[T], Circuit],
) -> tuple[T, PassRecord]:
    """Run every candidate, keep the first with the highest score (ties keep the earlier one).

    Each candidate's record spans building and scoring it, with its own pass records as children;
    the controller's record spans them all. A candidate's circuit is usually the one its last
    pass record measured (``latest_figures``), and the controller's is the best candidate's.
    """
    t_all = time.perf_counter()
    best, best_score, children = None, -float("inf"), []
    best_circuit, best_record = None, None
    for label, build in candidates:
        t0 = time.perf_counter()
        result = build()
        value = score(result)
        circuit = circuit_of(result)
        record = measured(label, t0, circuit, latest_figures(circuit))
        record.children = records_of(result)
        children.append(record)
        if best is None or value > best_score:
            best, best_score = result, value
            best_circuit, best_record = circuit, record
    circuit = circuit_of(best)
    figures = (best_record.two_qubit_gates, best_record.depth) if circuit is best_circuit else None
    record = measured(name, t_all, circuit, figures)
    record.children = children
    return best, record


# the circuit of the latest pass record in this process (by weak reference) and its figures
_latest: tuple[weakref.ref, tuple[int, int]] | None = None


def _hold_latest(circuit: Circuit, figures: tuple[int, int]) -> None:
    global _latest
    _latest = (weakref.ref(circuit), figures)


def latest_figures(circuit: Circuit) -> tuple[int, int] | None:
    """The figures of the latest pass record if it was of this very circuit object, else None:
    a compile's result is the circuit its last pass returned. The identity test (a live weak
    reference to the object) keeps another circuit's figures from being used, whatever ran in
    between; like the pass manager, this relies on circuits not being modified in place."""
    held = _latest
    if held is None or held[0]() is not circuit:
        return None
    return held[1]
