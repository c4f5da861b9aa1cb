"""The IR's gate set: one table that every exporter, simulator bridge, pass and test reads.

Each gate knows its arity, number of angles, its unitary (numpy, qubit 0 the most significant
bit, the controls first) and its OpenQASM 2 name. The Cirq and qsim bridges translate names to
their own gate objects and are tested against these unitaries. Global phases are not tracked:
every consumer (probabilities, equivalence up to global phase, resynthesis) is phase-blind.

numpy only: importing the IR must not import Cirq (seconds of start-up for a compile that may
never need it).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class GateSpec:
    name: str
    num_qubits: int
    num_angles: int
    unitary: Callable[..., np.ndarray]  # numeric angles -> (2^k, 2^k) complex matrix (read-only)
    qasm: str  # OpenQASM 2 / 3 (stdgates) name
    rotation_axis: str | None = None  # 'x' | 'y' | 'z' for single-angle rotations
    self_inverse: bool = False
    diagonal: bool = False


def _frozen(rows: Any) -> np.ndarray:
    m = np.array(rows, dtype=np.complex128)
    m.flags.writeable = False  # shared by every caller
    return m


def _fixed(rows: Any) -> Callable[[], np.ndarray]:
    m = _frozen(rows)
    return lambda: m


def _rot(axis: str, t: float) -> np.ndarray:
    """exp(-i t P / 2) for P = X, Y or Z."""
    c, s = math.cos(t / 2), math.sin(t / 2)
    if axis == "x":
        return np.array([[c, -1j * s], [-1j * s, c]])
    if axis == "y":
        return np.array([[c, -s], [s, c]], dtype=complex)
    return np.array([[c - 1j * s, 0], [0, c + 1j * s]])


def _u3(theta: float, phi: float, lam: float) -> np.ndarray:
    """u3(theta, phi, lam) = RZ(phi) RY(theta) RZ(lam), up to global phase."""
    return _rot("z", phi) @ _rot("y", theta) @ _rot("z", lam)


# Every entry, signed zeros included, is the float the passes read before this table existed
# (Cirq's unitaries): resynthesis turns these bits into the angles of the compiled circuit (a
# -0.0 can flip an atan2 from pi to -pi), so keeping them keeps compiled output bit-identical.
# Hence complex(0, -x) for -ix (the literal -1j has real part -0.0) and the two explicit -0.0.
_C = 0.7071067811865476  # cos(pi/4) as numpy rounds it; also H's 1/sqrt(2)
_S = 0.7071067811865475  # sin(pi/4) as numpy rounds it
_E = complex(_C, _S)  # exp(i pi/4)
_MI, _MIS = complex(0, -1), complex(0, -_S)  # -i, -i sin(pi/4)
_SX = (0.5 + 0.5j, 0.5 - 0.5j)

GATES: dict[str, GateSpec] = {
    spec.name: spec
    for spec in [
        GateSpec("h", 1, 0, _fixed([[_C, _C], [_C, -_C]]), "h", self_inverse=True),
        GateSpec("x", 1, 0, _fixed([[0, 1], [1, 0]]), "x", self_inverse=True),
        GateSpec("y", 1, 0, _fixed([[complex(0.0, -0.0), _MI], [1j, 0]]), "y", self_inverse=True),
        GateSpec("z", 1, 0, _fixed([[1, 0], [complex(-0.0, 0.0), -1]]), "z", self_inverse=True, diagonal=True),
        GateSpec("s", 1, 0, _fixed([[1, 0], [0, 1j]]), "s", diagonal=True),
        GateSpec("sdg", 1, 0, _fixed([[1, 0], [0, _MI]]), "sdg", diagonal=True),
        GateSpec("t", 1, 0, _fixed([[1, 0], [0, _E]]), "t", diagonal=True),
        GateSpec("tdg", 1, 0, _fixed([[1, 0], [0, _E.conjugate()]]), "tdg", diagonal=True),
        GateSpec("sx", 1, 0, _fixed([[_SX[0], _SX[1]], [_SX[1], _SX[0]]]), "sx"),
        GateSpec("sxdg", 1, 0, _fixed([[_SX[1], _SX[0]], [_SX[0], _SX[1]]]), "sxdg"),
        GateSpec("rx", 1, 1, lambda t: _rot("x", t), "rx", rotation_axis="x"),
        GateSpec("ry", 1, 1, lambda t: _rot("y", t), "ry", rotation_axis="y"),
        GateSpec("rz", 1, 1, lambda t: _rot("z", t), "rz", rotation_axis="z", diagonal=True),
        GateSpec("cx", 2, 0, _fixed(np.eye(4)[[0, 1, 3, 2]]), "cx", self_inverse=True),
        GateSpec("cz", 2, 0, _fixed(np.diag([1, 1, 1, -1])), "cz", self_inverse=True, diagonal=True),
        GateSpec("swap", 2, 0, _fixed(np.eye(4)[[0, 2, 1, 3]]), "swap", self_inverse=True),
        GateSpec("ccx", 3, 0, _fixed(np.eye(8)[[0, 1, 2, 3, 4, 5, 7, 6]]), "ccx", self_inverse=True),
        GateSpec("cswap", 3, 0, _fixed(np.eye(8)[[0, 1, 2, 3, 4, 6, 5, 7]]), "cswap", self_inverse=True),
        GateSpec("u3", 1, 3, _u3, "u3"),
        # native entanglers of real devices
        # IBM's echoed cross-resonance gate, qubit 0 = control: ECR = (IX - XY) / sqrt(2)
        GateSpec(
            "ecr",
            2,
            0,
            _fixed(np.array([[0, 1, 0, 1j], [1, 0, -1j, 0], [0, 1j, 0, 1], [-1j, 0, 1, 0]]) / np.sqrt(2)),
            "ecr",
            self_inverse=True,
        ),
        # sqrt(iSWAP): |01>, |10> rotate into each other by pi/4 with phase i
        GateSpec(
            "sqrt_iswap",
            2,
            0,
            _fixed([[1, 0, 0, 0], [0, _C, _S * 1j, 0], [0, _S * 1j, _C, 0], [0, 0, 0, 1]]),
            "sqrt_iswap",
        ),
        # Mølmer–Sørensen XX(pi/4) = exp(-i pi/4 X⊗X)
        GateSpec(
            "ms",
            2,
            0,
            _fixed([[_C, 0, 0, _MIS], [0, _C, _MIS, 0], [0, _MIS, _C, 0], [_MIS, 0, 0, _C]]),
            "ms",
        ),
        # RZZ(pi/2) = exp(-i pi/4 Z⊗Z)
        GateSpec("zz", 2, 0, _fixed(np.diag([_E.conjugate(), _E, _E, _E.conjugate()])), "zz"),
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


def gate_unitary(name: str, angles: Sequence[float] = ()) -> np.ndarray:
    """The unitary of gate ``name`` at numeric ``angles`` (read-only for gates without angles)."""
    spec = gate_spec(name)
    if len(angles) != spec.num_angles:
        raise ValueError(f"gate {name} takes {spec.num_angles} angles, got {len(angles)}")
    return spec.unitary(*angles)


def matrix(gate: Any) -> np.ndarray:
    """The unitary of an IR ``Gate`` whose angles are numeric (a symbolic one has none)."""
    if not all(a.is_numeric for a in gate.angles):
        raise ValueError(f"gate {gate.name} on {gate.qubits} has symbolic angles: bind them first")
    return GATES[gate.name].unitary(*(a.const for a in gate.angles))


def circuit_unitary(gates: Sequence[Any], num_qubits: int) -> np.ndarray:
    """The unitary of numeric IR ``Gate``s applied in order on ``num_qubits`` qubits (qubit 0 the
    most significant bit). Dense: for checks on a few qubits, not for simulation."""
    dim = 1 << num_qubits
    u = np.eye(dim, dtype=np.complex128).reshape((2,) * num_qubits + (dim,))
    for g in gates:
        k = len(g.qubits)
        m = matrix(g).reshape((2,) * (2 * k))
        # contract the gate's input indices with the state's axes of its qubits, then put the
        # gate's output indices back where those axes were
        u = np.tensordot(m, u, axes=(list(range(k, 2 * k)), list(g.qubits)))
        u = np.moveaxis(u, list(range(k)), list(g.qubits))
    return u.reshape(dim, dim)
