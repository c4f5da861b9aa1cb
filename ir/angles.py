"""Affine angle expressions over named symbols.

Every rotation angle in the IR is ``const + sum_k coeff_k * symbol_k``. Affine maps are closed
under the rewrites the passes perform (merging two rotations adds their angles, negation flips
signs), so symbolic rotation merging stays exact and the parameter-shift rule stays applicable:
d angle / d symbol is the constant ``coeff``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

Number = float | int


@dataclass(frozen=True)
class Angle:
    """``const + sum(coeff * symbol)``; terms are kept sorted so equal angles compare equal."""

    const: float = 0.0
    terms: tuple[tuple[str, float], ...] = field(default=())

    @staticmethod
    def symbol(name: str, coeff: float = 1.0) -> Angle:
        return Angle(0.0, ((name, float(coeff)),))

    @staticmethod
    def of(value: Angle | Number) -> Angle:
        return value if isinstance(value, Angle) else Angle(float(value))

    @property
    def is_numeric(self) -> bool:
        return not self.terms

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.terms)

    def coeff(self, name: str) -> float:
        return dict(self.terms).get(name, 0.0)

    def __add__(self, other: Angle | Number) -> Angle:
        other = Angle.of(other)
        acc = dict(self.terms)
        for name, c in other.terms:
            acc[name] = acc.get(name, 0.0) + c
        terms = tuple(sorted((n, c) for n, c in acc.items() if c != 0.0))
        return Angle(self.const + other.const, terms)

    __radd__ = __add__

    def __neg__(self) -> Angle:
        return Angle(-self.const, tuple((n, -c) for n, c in self.terms))

    def __sub__(self, other: Angle | Number) -> Angle:
        return self + (-Angle.of(other))

    def __mul__(self, k: Number) -> Angle:
        if k == 0:
            return Angle()
        return Angle(self.const * k, tuple((n, c * k) for n, c in self.terms))

    __rmul__ = __mul__

    def bind(self, values: Mapping[str, float]) -> float:
        """Numeric value; raises KeyError naming the first unbound symbol."""
        total = self.const
        for name, c in self.terms:
            if name not in values:
                raise KeyError(f"unbound symbol {name!r}")
            total += c * float(values[name])
        return total

    def is_zero_mod(self, period: float) -> bool:
        """True if numeric and a multiple of ``period`` (to 1e-12)."""
        if self.terms:
            return False
        r = math.remainder(self.const, period)
        return abs(r) < 1e-12

    def __str__(self) -> str:
        parts = [f"{c:+g}*{n}" if c not in (1.0, -1.0) else ("+" if c > 0 else "-") + n for n, c in self.terms]
        if self.const or not parts:
            parts.append(f"{self.const:+.12g}")
        s = "".join(parts)
        return s[1:] if s.startswith("+") else s


class AngleTable:
    """Vectorized binding of many angles: ``values = const + coeff_matrix @ symbol_vector``.

    Built once per compiled circuit so binding a batch of parameter sets is one matrix product
    instead of a Python loop over gates.
    """

    def __init__(self, angles: list[Angle], symbol_order: list[str]):
        self.symbol_order = list(symbol_order)
        index = {name: k for k, name in enumerate(self.symbol_order)}
        self.const = np.array([a.const for a in angles], dtype=np.float64)
        self.coeff = np.zeros((len(angles), len(self.symbol_order)), dtype=np.float64)
        for row, a in enumerate(angles):
            for name, c in a.terms:
                self.coeff[row, index[name]] += c

    def bind(self, symbol_values: np.ndarray) -> np.ndarray:
        """``symbol_values``: (..., n_symbols) -> (..., n_angles)."""
        return symbol_values @ self.coeff.T + self.const
