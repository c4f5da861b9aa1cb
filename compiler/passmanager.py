"""Runs passes in order and records each: the compile's timings add up to its wall time.

A ``PassManager`` is a list of pass modules (``hqvit.passes.base.Pass``); ``best_of`` is a
controller that runs several whole compiles and keeps the best, recording each candidate with its
own passes as children, so nothing a compile spends time on is left out of its records.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from hqvit.ir.circuit import Circuit
from hqvit.ir.metrics import two_qubit_gates_and_depth
from hqvit.passes.base import Pass, PassContext, PassRecord

T = TypeVar("T")


def pass_name(p: Pass) -> str:
    return p.__name__.rsplit(".", 1)[-1]


def measured(name: str, seconds_since: float, circuit: Circuit) -> PassRecord:
    """A record for ``circuit`` as a pass left it; the time includes measuring it."""
    two, d = two_qubit_gates_and_depth(circuit)
    return PassRecord(name, round(time.perf_counter() - seconds_since, 6), two, d)


class PassManager:
    def __init__(self, passes: Sequence[Pass]) -> None:
        self.passes = list(passes)

    @property
    def names(self) -> list[str]:
        return [pass_name(p) for p in self.passes]

    def run(self, circuit: Circuit, ctx: PassContext, records: list[PassRecord]) -> Circuit:
        for p in self.passes:
            t0 = time.perf_counter()
            circuit = p.run(circuit, ctx)
            records.append(measured(pass_name(p), t0, circuit))
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
