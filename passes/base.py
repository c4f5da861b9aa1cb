"""The pass protocol: every pass is ``run(circuit, ctx) -> circuit``.

Modelled on Cirq's transformers (a circuit and a context in, a circuit out) and Qiskit's
PassManager property set: what a pass learns besides the circuit (a layout, routing candidates, a
schedule) goes into ``ctx.properties`` for the passes after it. One pass per module; the module
name is the pass name, and its ``run`` is the pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from hqvit.ir.circuit import Circuit
from hqvit.targets import Target
from hqvit.targets.coupling import CouplingData


@dataclass
class PassRecord:
    """What one pass did: its wall time (the pass and measuring its result), the two-qubit count
    and depth after it; a controller's record holds its children's."""

    name: str
    seconds: float
    two_qubit_gates: int
    depth: int
    children: list[PassRecord] = field(default_factory=list)


@dataclass
class PassContext:
    """What a pass may read and write besides the circuit.

    ``target`` is the device as placement and routing should see it (the noise-blind copy when
    the user asks for one), ``device`` the real one that scheduling and scoring use; ``options``
    holds the preset's knobs (SABRE starts, iterations, trials); ``properties`` is the property
    set: ``layout`` (logical -> physical before the first gate), ``final_layout``, ``routings``
    (candidate routings from layout search), ``swaps``, ``schedule``.
    """

    target: Target
    device: Target | None = None  # the real calibration, when ``target`` is a noise-blind copy
    seed: int = 0
    options: dict[str, Any] = field(default_factory=dict)
    properties: dict[str, Any] = field(default_factory=dict)

    @property
    def real_target(self) -> Target:
        return self.device or self.target

    @property
    def coupling(self) -> CouplingData:
        """Distances and neighbour arrays of ``target``, built once per Target and cached there."""
        return self.target.coupling


class Pass(Protocol):
    """A pass module: ``__name__`` names it, ``run`` is the pass."""

    __name__: str

    def run(self, circuit: Circuit, ctx: PassContext) -> Circuit: ...
