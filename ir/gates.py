"""The IR's gate set: one table that every exporter, simulator bridge and test reads.

Each gate knows its arity, number of angles, its Cirq form (for unitaries and export) and its
OpenQASM 2 name. Global phases are not tracked: every consumer (probabilities, equivalence up
to global phase) is phase-blind.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import cirq
import numpy as np
import sympy


@dataclass(frozen=True)
class GateSpec:
    name: str
    num_qubits: int
    num_angles: int
    to_cirq: Callable[..., cirq.Gate]  # angles (float or sympy) -> cirq gate
    qasm: str  # OpenQASM 2 / 3 (stdgates) name
    rotation_axis: str | None = None  # 'x' | 'y' | 'z' for single-angle rotations
    self_inverse: bool = False
    diagonal: bool = False


def _fixed(gate: cirq.Gate) -> Callable[[], cirq.Gate]:
    return lambda: gate


# IBM's echoed cross-resonance gate, qubit 0 = control (most significant):
# ECR = (IX - XY) / sqrt(2).
ECR_MATRIX = np.array([[0, 1, 0, 1j], [1, 0, -1j, 0], [0, 1j, 0, 1], [-1j, 0, 1, 0]]) / np.sqrt(2)
ECR = cirq.MatrixGate(ECR_MATRIX, name="ECR")


def u3_gate(theta, phi, lam) -> cirq.Gate:
    """u3(theta, phi, lam) = RZ(phi) RY(theta) RZ(lam) up to phase, as one PhasedXZ (affine in the angles)."""
    return cirq.PhasedXZGate(
        axis_phase_exponent=0.5 - lam / sympy.pi if _symbolic(lam) else 0.5 - lam / np.pi,
        x_exponent=theta / sympy.pi if _symbolic(theta) else theta / np.pi,
        z_exponent=(phi + lam) / sympy.pi if _symbolic(phi) or _symbolic(lam) else (phi + lam) / np.pi,
    )


def _symbolic(x) -> bool:
    return isinstance(x, sympy.Basic)


GATES: dict[str, GateSpec] = {
    spec.name: spec
    for spec in [
        GateSpec("h", 1, 0, _fixed(cirq.H), "h", self_inverse=True),
        GateSpec("x", 1, 0, _fixed(cirq.X), "x", self_inverse=True),
        GateSpec("y", 1, 0, _fixed(cirq.Y), "y", self_inverse=True),
        GateSpec("z", 1, 0, _fixed(cirq.Z), "z", self_inverse=True, diagonal=True),
        GateSpec("s", 1, 0, _fixed(cirq.S), "s", diagonal=True),
        GateSpec("sdg", 1, 0, _fixed(cirq.S**-1), "sdg", diagonal=True),
        GateSpec("t", 1, 0, _fixed(cirq.T), "t", diagonal=True),
        GateSpec("tdg", 1, 0, _fixed(cirq.T**-1), "tdg", diagonal=True),
        GateSpec("sx", 1, 0, _fixed(cirq.X**0.5), "sx"),
        GateSpec("sxdg", 1, 0, _fixed(cirq.X**-0.5), "sxdg"),
        GateSpec("rx", 1, 1, cirq.rx, "rx", rotation_axis="x"),
        GateSpec("ry", 1, 1, cirq.ry, "ry", rotation_axis="y"),
        GateSpec("rz", 1, 1, cirq.rz, "rz", rotation_axis="z", diagonal=True),
        GateSpec("cx", 2, 0, _fixed(cirq.CNOT), "cx", self_inverse=True),
        GateSpec("cz", 2, 0, _fixed(cirq.CZ), "cz", self_inverse=True, diagonal=True),
        GateSpec("swap", 2, 0, _fixed(cirq.SWAP), "swap", self_inverse=True),
        GateSpec("ccx", 3, 0, _fixed(cirq.CCX), "ccx", self_inverse=True),
        GateSpec("cswap", 3, 0, _fixed(cirq.CSWAP), "cswap", self_inverse=True),
        GateSpec("u3", 1, 3, u3_gate, "u3"),
        # native entanglers of real devices
        GateSpec("ecr", 2, 0, _fixed(ECR), "ecr", self_inverse=True),
        GateSpec("sqrt_iswap", 2, 0, _fixed(cirq.SQRT_ISWAP), "sqrt_iswap"),
        GateSpec("ms", 2, 0, _fixed(cirq.ms(np.pi / 4)), "ms"),  # Mølmer–Sørensen XX(pi/4)
        GateSpec("zz", 2, 0, _fixed(cirq.ZZPowGate(exponent=0.5, global_shift=-0.5)), "zz"),  # RZZ(pi/2)
    ]
}

# gates that OpenQASM's standard libraries lack; exporters define them from library gates
NON_LIBRARY = ("ecr", "sqrt_iswap", "ms", "zz")

ROTATIONS = {spec.rotation_axis: name for name, spec in GATES.items() if spec.rotation_axis}


def gate_spec(name: str) -> GateSpec:
    try:
        return GATES[name]
    except KeyError:
        raise ValueError(f"unknown gate {name!r}; known gates: {', '.join(sorted(GATES))}") from None


def angle_to_sympy(angle) -> sympy.Expr | float:
    """An ``Angle`` as a sympy expression (a float when it has no symbols)."""
    if angle.is_numeric:
        return float(angle.const)
    expr = sympy.Float(angle.const) if angle.const else sympy.Integer(0)
    for name, c in angle.terms:
        expr = expr + (sympy.Integer(int(c)) if float(c).is_integer() else sympy.Float(c)) * sympy.Symbol(name)
    return expr


PI = math.pi
