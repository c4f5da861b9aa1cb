"""Dynamical-decoupling sequences: when their pi pulses fall in an idle window, about which axis,
and which native gates play them on a target.

Every sequence is an even number of pi pulses about X or Y, so it multiplies to the identity up to
a global phase:

- XX: X X = I.
- XY4: Y X Y X = (Y X)(Y X) = (-iZ)(-iZ) = -I.
- the staggered family: 2^l pulses about X, an even count: I.

Played in native gates: rx(pi) = -iX and ry(pi) = -iY ("any" native set), so each product picks
up a factor (-i)^(2m) = +-1; on IBM's set (rz, sx, x), X is ``x`` and Y is ``rz(pi)`` then
``x``: X Rz(pi) = X (-iZ) = -i XZ = -i (-iY) = -Y, and the signs cancel in pairs. The rz is a
virtual frame change (no time, no error) that needs a moment of its own before the pulse.

A pi pulse flips the sign with which a Z error (ZZ, a detuning) enters the qubit's frame; the
pattern of signs over the window is the sequence's toggling function s(t). The staggered family
uses Walsh functions: colour c gets 2^l pulses, l = c // 2 + 1, at (2j + 1) / 2^(l+1) for even c
(CPMG-like: 1/4, 3/4 for c = 0) and at j / 2^l for odd c (the same shifted by a quarter period:
0, 1/2 for c = 1). Every one has zero mean (refocuses a qubit's own detuning) and any two are
orthogonal, so two coupled qubits of different colours idling over the same window also refocus
their ZZ: int s_a s_b dt = 0. Two neighbours on the same sequence have s_a s_b = 1 and refocus
nothing of their ZZ, which is what staggering avoids.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hqvit.ir.angles import Angle
from hqvit.ir.circuit import Gate
from hqvit.targets import Target


@dataclass(frozen=True)
class Sequence:
    name: str
    fractions: tuple[float, ...]  # ideal pulse times as fractions of the idle window
    axes: str  # "X" or "Y" per pulse

    def __post_init__(self) -> None:
        if len(self.fractions) != len(self.axes) or len(self.axes) % 2:
            raise ValueError(f"sequence {self.name}: needs an even number of pulses, one axis each")


XX = Sequence("xx", (0.25, 0.75), "XX")
XY4 = Sequence("xy4", (0.125, 0.375, 0.625, 0.875), "XYXY")


def staggered(colour: int) -> Sequence:
    """The Walsh-timed X sequence of graph colour ``colour`` (module docstring)."""
    level = colour // 2 + 1
    m = 2**level
    if colour % 2 == 0:
        fractions = tuple((2 * j + 1) / (2 * m) for j in range(m))
    else:
        fractions = tuple(j / m for j in range(m))
    return Sequence(f"staggered{colour}", fractions, "X" * m)


def shifted(seq: Sequence) -> Sequence:
    """``seq`` moved a quarter of its period earlier: its Walsh partner, orthogonal to it."""
    m = len(seq.fractions)
    return Sequence(f"{seq.name}-shifted", tuple(j / m for j in range(m)), seq.axes)


# what --dd auto chooses from, per window: the two timings of 2 and of 4 pulses
AUTO_CANDIDATES = (XX, shifted(XX), XY4, shifted(XY4))


def pulse_gates(axis: str, qubit: int, target: Target) -> list[Gate]:
    """The native gates of one pi pulse on ``qubit``: zero or more frame changes, then the pulse
    itself (the last gate, the one whose time matters)."""
    pi = (Angle(math.pi),)
    if target.one_qubit_native == "ibm":
        x = Gate("x", (qubit,))
        return [x] if axis == "X" else [Gate("rz", (qubit,), pi), x]
    return [Gate("rx" if axis == "X" else "ry", (qubit,), pi)]
