"""Resource figures of a lowered circuit: gate counts by arity and ASAP depth, and the ASAP
layering that the depth, the schedulers and the noise model's channel layers all use."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import TypeVar

from hqvit.ir.circuit import Circuit, Gate

T = TypeVar("T")

# the pass context's property under which a pass may hand the pass manager
# ``(circuit, two_qubit_gates_and_depth(circuit))`` for the circuit it returns
# (``hqvit.compiler.passmanager``)
FIGURES = "figures"


def asap_levels(qubit_groups: Iterable[Iterable[Hashable]]) -> list[int]:
    """The ASAP level of each operation, given the qubits of each in program order: one past the
    highest level used so far on any of its qubits (0 if none).

    Correct as a schedule because an operation's level exceeds that of every earlier operation
    sharing a qubit with it, so the order of operations on every qubit is kept, and operations
    of one level are disjoint; it is the earliest such level, hence the minimal depth.
    """
    level: dict[Hashable, int] = {}
    out = []
    for qubits in qubit_groups:
        qs = tuple(qubits)
        d = max((level.get(q, 0) for q in qs), default=0)
        out.append(d)
        for q in qs:
            level[q] = d + 1
    return out


def asap_layers(ops: Sequence[T], qubits_of: Callable[[T], Iterable[Hashable]]) -> list[list[T]]:
    """``ops`` grouped by ``asap_levels``, each layer in program order."""
    levels = asap_levels(qubits_of(op) for op in ops)
    layers: list[list[T]] = [[] for _ in range(max(levels, default=-1) + 1)]
    for op, d in zip(ops, levels, strict=True):
        layers[d].append(op)
    return layers


def gate_layers(gates: Iterable[Gate], num_qubits: int) -> list[list[Gate]]:
    """``asap_layers(gates, lambda g: g.qubits)`` for gates on qubits ``0..num_qubits-1``.

    The same levels, so the same layers in the same order: a list per qubit replaces the dict
    and one- and two-qubit gates (nearly all of them) are inlined; a gate's level is never more
    than the number of layers so far, so its layer exists or is the next one. The schedulers
    layer every gate of every compile.
    """
    level = [0] * num_qubits
    layers: list[list[Gate]] = []
    for g in gates:
        qs = g.qubits
        k = len(qs)
        if k == 1:
            q = qs[0]
            d = level[q]
            level[q] = d + 1
        elif k == 2:
            a, b = qs
            d = level[a]
            e = level[b]
            if e > d:
                d = e
            level[a] = level[b] = d + 1
        else:
            d = max((level[q] for q in qs), default=0)
            for q in qs:
                level[q] = d + 1
        if d < len(layers):
            layers[d].append(g)
        else:
            layers.append([g])
    return layers


def gate_counts(circuit: Circuit) -> dict[str, int]:
    one = two = more = cx = 0
    for g in circuit.gates():
        k = len(g.qubits)
        one += k == 1
        two += k == 2
        more += k > 2
        cx += g.name == "cx"
    return {"one_qubit_gates": one, "two_qubit_gates": two, "multi_qubit_gates": more, "cnots": cx}


def two_qubit_gates_and_depth(circuit: Circuit, min_arity: int = 1) -> tuple[int, int]:
    """``gate_counts(circuit)["two_qubit_gates"]`` and ``depth(circuit, min_arity)`` in one walk
    over the operations (the pass manager records both after every pass of every candidate)."""
    level = [0] * circuit.num_qubits
    deepest = two = 0
    for seg in circuit.segments:
        for g in seg.ops:
            if type(g) is not Gate:
                continue
            qs = g.qubits
            k = len(qs)
            if k == 2:
                two += 1
            if k < min_arity:
                continue
            if k == 1:
                d = level[qs[0]] = level[qs[0]] + 1
            elif k == 2:
                a, b = qs
                d = level[a] = level[b] = 1 + (level[a] if level[a] > level[b] else level[b])
            else:
                d = 1 + max(level[q] for q in qs)
                for q in qs:
                    level[q] = d
            if d > deepest:
                deepest = d
    return two, deepest


def depth(circuit: Circuit, min_arity: int = 1) -> int:
    """Layers of an ASAP schedule counting only gates on at least ``min_arity`` qubits
    (``asap_levels``' maximum plus one, with a list per qubit instead of a dict: it runs after
    every pass)."""
    return two_qubit_gates_and_depth(circuit, min_arity)[1]
