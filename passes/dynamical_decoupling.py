"""Pass: dynamical decoupling (DD) in the idle windows of the schedule.

Correct because every sequence multiplies to the identity up to a global phase (the proofs are in
passes/dd_sequences.py), acts on its qubit alone, and goes in as one contiguous block between
two consecutive operations of that qubit: in the circuit right after the window's opening
operation (same segment), in the schedule into moments strictly between the two. The order of
operations on every qubit is kept and each segment's unitary changes by a global phase only.
DD gates go only into moments that last at least as long as the gate (passes/dd_timeline.py), a
pulse possibly starting at an offset inside the moment (``Schedule.offsets``) but always ending
within it, so no moment gets longer: the total duration and every other qubit's timing stay as
they were, and ESP and the noise model see exactly the added gates. An offset changes when the
pulse plays, not the order of operations on any qubit, so it cannot change the unitary.

Modes (``ctx.options["dd"]``):

- ``none``: nothing.
- ``xx``, ``xy4``: that sequence in every live idle window that fits it.
- ``staggered``: the qubits coupled by static ZZ are graph-coloured (two colours on heavy-hex
  and grids, which are bipartite) and colour c plays the Walsh-timed X sequence c, so
  neighbours idling together refocus their mutual ZZ as well as their own detuning.
- ``auto``: selective. Starting from no DD, each live window in time order takes, of nothing
  and the candidates (``candidates``: XX, XY4 and their quarter-period-shifted partners at their
  ideal times; X pulses centred in the neighbours' long operations, which echo the ZZ a qubit
  picks up while a neighbour plays e.g. an ECR; X pulses centred in every long stretch where
  the neighbours do not change, staggered against their current pulses), the one with
  the lowest estimated error given its neighbours' current choices (the estimate of
  passes/dd_timeline.py: quasi-static dephasing and static ZZ refocused against the DD gates'
  calibrated error), and only when it is strictly lower; a second sweep revisits the windows
  with the later choices known. Each change lowers the estimate's total by exactly the amount
  compared, so the result is never worse than no DD by the model's own estimate. With no ZZ and
  T2* = T2 there is nothing to refocus and nothing is inserted.

A window is live unless it is the tail of a qubit that is never measured. The pass records
``ctx.properties["dd"]``: the mode, windows decoupled out of those with room, DD gates and
pulses (and how many start inside their moment), and the estimate's total without and with DD.
"""

from __future__ import annotations

import networkx as nx

from hqvit.ir.circuit import Circuit, Gate, Segment
from hqvit.ir.errors import InputError
from hqvit.passes.base import PassContext
from hqvit.passes.dd_sequences import AUTO_CANDIDATES, XX, XY4, Sequence, pulse_gates, staggered
from hqvit.passes.dd_timeline import Placement, Timeline, Window
from hqvit.passes.schedule import Schedule

MODES = ("none", "xx", "xy4", "staggered", "auto")
SWEEPS = 2  # auto: the second sweep sees every neighbour's choice; more rarely changes anything
# auto's staggered candidates: a pulse in every stretch of constant neighbours at least this many
# pulse durations long (denser sequences refocus more and cost more pulses; the estimate chooses)
SEGMENT_LENGTHS = (4, 16, 64)


def colours(tl: Timeline) -> dict[int, int]:
    """Qubit -> colour over the static-ZZ couplers between qubits the circuit uses."""
    used = [q for q in range(len(tl.first_op)) if tl.first_op[q] < tl.duration.size]
    g = nx.Graph()
    g.add_nodes_from(used)
    g.add_edges_from((q, r) for q in used for r, _ in tl.neighbours[q] if r in g)
    return nx.greedy_color(g, strategy="saturation_largest_first")


def _fixed(tl: Timeline, eligible: list[Window], mode: str) -> tuple[dict[Window, Placement], float]:
    """The mode's sequence in every window it fits; also the change of the estimate's total."""
    colour = colours(tl) if mode == "staggered" else {}
    chosen, change = {}, 0.0
    for w in eligible:
        seq: Sequence = {"xx": XX, "xy4": XY4}.get(mode) or staggered(colour.get(w.qubit, 0))
        p = tl.place(w, seq)
        if p is not None:
            change += tl.terms(w, p).delta_weight - tl.terms(w, None).delta_weight
            chosen[w] = p
            tl.apply(w, p)
    return chosen, change


def _descend(tl: Timeline, eligible: list[Window]) -> tuple[dict[Window, Placement], float]:
    """Greedy descent from no DD (module docstring); also the change of the estimate's total."""
    chosen: dict[Window, Placement] = {}
    change = 0.0
    for _ in range(SWEEPS):
        changed = False
        for w in eligible:
            current = chosen.get(w)
            best, best_value = current, tl.terms(w, current).delta_weight
            start = best_value
            options = [None] + candidates(tl, w)
            for p in options:
                if p is current or (p is None and current is None):
                    continue
                value = tl.terms(w, p).delta_weight
                if value < best_value - 1e-15:
                    best, best_value = p, value
            if best is not current:
                tl.apply(w, best)
                change += best_value - start
                changed = True
                if best is None:
                    del chosen[w]
                else:
                    chosen[w] = best
        if not changed:
            break
    return chosen, change


def candidates(tl: Timeline, w: Window) -> list[Placement]:
    """What ``auto`` weighs for window ``w`` besides nothing: the fraction-timed sequences at
    their ideal times; X pulses in the middle of the neighbours' long operations (all, all but
    the first, all but the last; an odd count gets a balancing pulse); and X pulses in the
    middle of every long enough stretch where the neighbours (operations and current DD
    pulses) do not change (``Timeline.place_segments``)."""
    out = [tl.place(w, seq) for seq in AUTO_CANDIDATES]
    if tl.echo_moments(w):
        out += [tl.place_echo(w, drop) for drop in ("none", "first", "last")]
    d = tl.target.gate_duration(pulse_gates("X", w.qubit, tl.target)[-1].name, (w.qubit,))
    out += [tl.place_segments(w, f * d) for f in SEGMENT_LENGTHS]
    return [p for p in out if p is not None]


def eligible_windows(tl: Timeline) -> list[Window]:
    """Live windows with at least one free moment, in the order of that moment."""
    return sorted(
        (w for w in tl.windows if w.live and w.end > w.first + 1),
        key=lambda w: (tl.start[w.first + 1], w.qubit),
    )


def choose(tl: Timeline, mode: str) -> tuple[dict[Window, Placement], float]:
    """The windows' sequences for ``mode`` (applied to ``tl``) and the change of the total."""
    eligible = eligible_windows(tl)
    return _descend(tl, eligible) if mode == "auto" else _fixed(tl, eligible, mode)


def total_estimate(tl: Timeline, chosen: dict[Window, Placement]) -> float:
    """The estimate's total over every window, with ``chosen`` as the windows' sequences (they
    must be the ones applied to ``tl``)."""
    return sum(tl.terms(w, chosen.get(w)).total_weight for w in tl.windows)


def _insert(circuit: Circuit, schedule: Schedule, chosen: dict[Window, Placement]) -> tuple[Circuit, Schedule]:
    """Each placement's gates right after its window's opening operation (the ``anchor``-th
    operation of the qubit in program order) and into its moments."""
    after = {(w.qubit, w.anchor): p.gates for w, p in chosen.items()}
    seen: dict[int, int] = {}
    segments = []
    for seg in circuit.segments:
        ops = []
        for op in seg.ops:
            ops.append(op)
            if isinstance(op, Gate):
                for q in op.qubits:
                    ops += after.get((q, seen.get(q, 0)), [])
                    seen[q] = seen.get(q, 0) + 1
        segments.append(Segment(seg.name, ops))
    moments = [list(m) for m in schedule.moments]
    offsets = dict(schedule.offsets)
    for p in chosen.values():
        for g, k, o in zip(p.gates, p.moments, p.offsets, strict=True):
            moments[k].append(g)
            if o > 0:
                offsets[(k, g.qubits[0])] = o
    # each moment's operations in order of their start: the noisy simulator emits them in this
    # order and splits the coherent idle phases at the offset ones (runtime/noisy_program.py)
    for k, m in enumerate(moments):
        m.sort(key=lambda g, k=k: offsets.get((k, g.qubits[0]), 0.0))
    schedule = Schedule(moments, schedule.measured, schedule.num_qubits, offsets)
    return circuit.with_segments(segments), schedule


def run(circuit: Circuit, ctx: PassContext) -> Circuit:
    """Decouples the idle windows of ``ctx.properties["schedule"]`` on the real device; a no-op
    for ``none`` and on the ideal target (no time, no noise)."""
    mode = ctx.options.get("dd", "none")
    if mode not in MODES:
        raise InputError(f"--dd must be one of {', '.join(MODES)}, got {mode!r}")
    target = ctx.real_target
    if mode == "none" or target.ideal:
        return circuit
    schedule: Schedule = ctx.properties["schedule"]
    tl = Timeline(schedule.moments, schedule.measured, schedule.num_qubits, target)
    without = total_estimate(tl, {})
    chosen, change = choose(tl, mode)
    circuit, ctx.properties["schedule"] = _insert(circuit, schedule, chosen)
    ctx.properties["dd"] = {
        "mode": mode,
        "windows": len(chosen),
        "windows_with_room": len(eligible_windows(tl)),
        "gates": sum(len(p.gates) for p in chosen.values()),
        "pulses": sum(sum(p.timed) for p in chosen.values()),
        "pulses_inside_moments": sum(o > 0 for p in chosen.values() for o in p.offsets),
        # each change moved the total by exactly the change compared (dd_timeline.WindowTerms)
        "error_estimate": {"without": without, "with": without + change},
    }
    return circuit
