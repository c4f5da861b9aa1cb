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
    ]
}

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
