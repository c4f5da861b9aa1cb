"""Decompose to a target's native gates.

Three-qubit gates expand to CNOTs first (``expand_three_qubit_gates``, before routing). Two-qubit
gates become the target's entangler plus single-qubit u3 gates (``translate_two_qubit``): the
templates come from Cirq's exact synthesis (KAK: CZ / CNOT-class entanglers; sqrt-iSWAP
synthesis) and are checked against the gate's unitary when first built, so a wrong template can
never be returned. Single-qubit runs are then merged and rewritten in the target's 1-qubit set by
``passes.single_qubit``. Symbolic angles only ever sit on single-qubit rotations, which these
passes copy unchanged, so compile-once / bind-many keeps working.
"""

from __future__ import annotations

import functools

import cirq
import numpy as np

from hqvit.ir.angles import Angle
from hqvit.ir.circuit import Circuit, Gate, Segment
from hqvit.ir.gates import circuit_unitary, gate_unitary
from hqvit.passes.base import PassContext

CNOT_CLASS = ("cx", "cz", "ecr", "ms", "zz")  # locally equivalent to CNOT: one use per CNOT
_Q = cirq.LineQubit.range(2)


def u3_from_matrix(m: np.ndarray, q: int) -> Gate:
    before, mid, after = cirq.deconstruct_single_qubit_matrix_into_angles(m)
    return Gate("u3", (q,), (Angle(mid), Angle(after), Angle(before)))


def _from_cirq(ops, entangler: str) -> list[Gate]:
    out: list[Gate] = []
    for op in ops:
        qs = tuple(q.x for q in op.qubits)
        if len(qs) == 1:
            out.append(u3_from_matrix(cirq.unitary(op), qs[0]))
        elif isinstance(op.gate, cirq.CZPowGate) and op.gate.exponent == 1:
            out.extend(g.on(tuple(qs[i] for i in g.qubits)) for g in _cz_as(entangler))
        elif op.gate == cirq.SQRT_ISWAP and entangler == "sqrt_iswap":
            out.append(Gate("sqrt_iswap", qs))
        else:
            raise ValueError(f"unexpected operation {op} in synthesis for {entangler}")
    return out


@functools.cache
def _cz_as(entangler: str) -> tuple[Gate, ...]:
    """CZ = (A (x) B) E (C (x) D) for E locally equivalent to CNOT, from the two KAK decompositions."""
    if entangler == "cz":
        return (Gate("cz", (0, 1)),)
    cz, e = cirq.kak_decomposition(cirq.CZ), cirq.kak_decomposition(gate_unitary(entangler))
    if not np.allclose(cz.interaction_coefficients, e.interaction_coefficients, atol=1e-9):
        raise ValueError(f"{entangler} is not locally equivalent to CZ")
    # CZ ~ a . M . b and E ~ c . M . d  =>  CZ ~ (a c^-1) E (d^-1 b)
    a, b = cz.single_qubit_operations_after, cz.single_qubit_operations_before
    c, d = e.single_qubit_operations_after, e.single_qubit_operations_before
    pre = [u3_from_matrix(np.linalg.inv(d[k]) @ b[k], k) for k in (0, 1)]
    post = [u3_from_matrix(a[k] @ np.linalg.inv(c[k]), k) for k in (0, 1)]
    return tuple(pre + [Gate(entangler, (0, 1))] + post)


@functools.cache
def two_qubit_template(gate: str, entangler: str) -> tuple[Gate, ...]:
    """``gate`` on qubits (0, 1) as ``entangler`` + u3 gates, exact up to global phase."""
    if gate == entangler:
        return (Gate(gate, (0, 1)),)
    u = gate_unitary(gate)
    if entangler == "sqrt_iswap":
        ops = cirq.two_qubit_matrix_to_sqrt_iswap_operations(_Q[0], _Q[1], u)
    else:
        ops = cirq.two_qubit_matrix_to_cz_operations(_Q[0], _Q[1], u, allow_partial_czs=False)
    out = tuple(_from_cirq(ops, entangler))
    if not cirq.allclose_up_to_global_phase(circuit_unitary(out, 2), u, atol=1e-6):  # cirq synthesizes to ~1e-8
        raise AssertionError(f"synthesis of {gate} into {entangler} is wrong")
    return out


@functools.lru_cache(maxsize=1 << 16)
def placed_template(gate: str, entangler: str, qubits: tuple[int, int]) -> tuple[Gate, ...]:
    """``two_qubit_template(gate, entangler)`` placed on ``qubits``. A routed circuit applies the
    same gate to the same few couplers thousands of times; gates are immutable, so circuits may
    share the placed gates (equal to freshly placed ones field for field)."""
    return _place(two_qubit_template(gate, entangler), qubits)


def _place(template: tuple[Gate, ...], qubits: tuple[int, int]) -> tuple[Gate, ...]:
    """A template on (0, 1) moved to ``qubits``."""
    return tuple(g.on(tuple(qubits[i] for i in g.qubits)) for g in template)


def translate_two_qubit(circuit: Circuit, entangler: str) -> Circuit:
    """Every two-qubit gate becomes ``entangler`` + u3 gates (its template, placed on its qubits)."""
    segments = []
    for seg in circuit.segments:
        ops: list = []
        for op in seg.ops:
            if isinstance(op, Gate) and len(op.qubits) == 2 and op.name != entangler:
                a, b = op.qubits
                if type(a) is int and type(b) is int:
                    ops.extend(placed_template(op.name, entangler, op.qubits))
                else:  # numpy integers equal ints but print differently: placed afresh
                    ops.extend(_place(two_qubit_template(op.name, entangler), op.qubits))
            else:
                ops.append(op)
        segments.append(Segment(seg.name, ops))
    return circuit.with_segments(segments)


def run(circuit: Circuit, ctx: PassContext) -> Circuit:
    return translate_two_qubit(circuit, ctx.target.two_qubit_gate)
