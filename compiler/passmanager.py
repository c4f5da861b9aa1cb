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
    the controller's record spans them all.
    """
    t_all = time.perf_counter()
    best, best_score, children = None, -float("inf"), []
    for label, build in candidates:
        t0 = time.perf_counter()
        result = build()
        value = score(result)
        record = measured(label, t0, circuit_of(result))
        record.children = records_of(result)
        children.append(record)
        if best is None or value > best_score:
            best, best_score = result, value
    record = measured(name, t_all, circuit_of(best))
    record.children = children
    return best, record
