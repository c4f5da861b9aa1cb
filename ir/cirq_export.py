"""Export IR circuits to ``cirq.Circuit``: symbolic (sympy angles) or bound to numbers.

The only IR module that imports Cirq (and sympy): it translates gate names to Cirq's own gate
objects (native gates keep their Cirq types, so Cirq's and qsim's fast paths apply); tests check
each against the unitary in ``gates.GATES``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence

import cirq
import numpy as np
import sympy

from hqvit.ir.circuit import Circuit, Gate, Measure
from hqvit.ir.gates import gate_unitary


def _symbolic(x) -> bool:
    return isinstance(x, sympy.Basic)


def u3_gate(theta, phi, lam) -> cirq.Gate:
    """u3(theta, phi, lam) = RZ(phi) RY(theta) RZ(lam) up to phase, as one PhasedXZ (affine in the angles)."""
    return cirq.PhasedXZGate(
        axis_phase_exponent=0.5 - lam / sympy.pi if _symbolic(lam) else 0.5 - lam / np.pi,
        x_exponent=theta / sympy.pi if _symbolic(theta) else theta / np.pi,
        z_exponent=(phi + lam) / sympy.pi if _symbolic(phi) or _symbolic(lam) else (phi + lam) / np.pi,
    )


@functools.cache
def cirq_gates() -> dict[str, Callable[..., cirq.Gate]]:
    """IR gate name -> angles (float or sympy) -> Cirq gate."""
    fixed: dict[str, cirq.Gate] = {
        "h": cirq.H,
        "x": cirq.X,
        "y": cirq.Y,
        "z": cirq.Z,
        "s": cirq.S,
        "sdg": cirq.S**-1,
        "t": cirq.T,
        "tdg": cirq.T**-1,
        "sx": cirq.X**0.5,
        "sxdg": cirq.X**-0.5,
        "cx": cirq.CNOT,
        "cz": cirq.CZ,
        "swap": cirq.SWAP,
        "ccx": cirq.CCX,
        "cswap": cirq.CSWAP,
        "ecr": cirq.MatrixGate(gate_unitary("ecr"), name="ECR"),  # Cirq has no ECR type
        "sqrt_iswap": cirq.SQRT_ISWAP,
        "ms": cirq.ms(np.pi / 4),
        "zz": cirq.ZZPowGate(exponent=0.5, global_shift=-0.5),
    }
    out: dict[str, Callable[..., cirq.Gate]] = {name: (lambda g=g: g) for name, g in fixed.items()}
    out.update(rx=cirq.rx, ry=cirq.ry, rz=cirq.rz, u3=u3_gate)
    return out


def cirq_gate(name: str, *angles) -> cirq.Gate:
    """The Cirq gate for IR gate ``name`` at ``angles`` (floats or sympy expressions)."""
    return cirq_gates()[name](*angles)


def angle_to_sympy(angle) -> sympy.Expr | float:
    """An ``Angle`` as a sympy expression (a float when it has no symbols)."""
    if angle.is_numeric:
        return float(angle.const)
    expr = sympy.Float(angle.const) if angle.const else sympy.Integer(0)
    for name, c in angle.terms:
        expr = expr + (sympy.Integer(int(c)) if float(c).is_integer() else sympy.Float(c)) * sympy.Symbol(name)
    return expr


def default_qubits(n: int) -> list[cirq.Qid]:
    return list(cirq.LineQubit.range(n))


def to_cirq(
    circuit: Circuit,
    bindings: Mapping[str, float] | None = None,
    qubits: Sequence[cirq.Qid] | None = None,
    measurements: bool = True,
    segments: Sequence[str] | None = None,
) -> cirq.Circuit:
    """Gates in order (moments by cirq's earliest insertion). High-level ops must be lowered first."""
    if not circuit.is_lowered():
        raise ValueError("lower the circuit before exporting it to cirq")
    qs = list(qubits) if qubits is not None else default_qubits(circuit.num_qubits)
    ops: list[cirq.Operation] = []
    for seg in circuit.segments:
        if segments is not None and seg.name not in segments:
            continue
        for op in seg.ops:
            if isinstance(op, Gate):
                if bindings is None:
                    args = [angle_to_sympy(a) for a in op.angles]
                else:
                    args = [a.bind(bindings) for a in op.angles]
                ops.append(cirq_gate(op.name, *args).on(*(qs[q] for q in op.qubits)))
            elif isinstance(op, Measure) and measurements:
                ops.append(cirq.measure(*(qs[q] for q in op.qubits), key="m"))
    return cirq.Circuit(ops)
