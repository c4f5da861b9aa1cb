"""Pass: no two crosstalking couplers run in the same moment of the schedule.

Correct because it only moves a gate into a new moment inserted right after its own, before
anything that followed it: the order of gates on every qubit is unchanged.
"""

from __future__ import annotations

from hqvit.ir.circuit import Circuit, Gate
from hqvit.passes.base import PassContext
from hqvit.passes.schedule import Schedule
from hqvit.targets import Target


def serialize_crosstalk(schedule: Schedule, target: Target) -> Schedule:
    """Move a two-qubit gate to a new moment of its own when it shares a moment with a gate on a
    coupler the target declares as crosstalking with its own. Order on every qubit is kept: the
    moved gate goes to a moment inserted right after, before anything that followed it."""
    if not target.crosstalk:
        return schedule
    bad = {frozenset((tuple(sorted(a)), tuple(sorted(b)))) for a, b in target.crosstalk}
    out: list[list[Gate]] = []
    queue = [list(m) for m in schedule.moments]
    while queue:
        moment = queue.pop(0)
        kept, moved = [], []
        for g in moment:
            edge = tuple(sorted(g.qubits))
            clash = len(g.qubits) == 2 and any(
                len(k.qubits) == 2 and frozenset((edge, tuple(sorted(k.qubits)))) in bad for k in kept
            )
            (moved if clash else kept).append(g)
        out.append(kept)
        if moved:
            queue.insert(0, moved)
    return Schedule(out, schedule.measured, schedule.num_qubits)


# the circuit is returned as it came (``hqvit.compiler.passmanager`` keeps its figures)
PRESERVES_CIRCUIT = True


def run(circuit: Circuit, ctx: PassContext) -> Circuit:
    """Rewrites ``ctx.properties["schedule"]`` for the real device's crosstalk."""
    ctx.properties["schedule"] = serialize_crosstalk(ctx.properties["schedule"], ctx.real_target)
    return circuit
