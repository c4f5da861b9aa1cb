"""The intermediate representation: gates and high-level operations in named segments.

A ``Circuit`` is a list of segments (``encode``, ``trainable``, ``readout`` for HQViT), each a
list of operations on integer qubit indices. Passes rewrite inside a segment and never move a
gate across a boundary, so the runtime can simulate the data-encoding segment once per image and
reuse that state for every head and every parameter shift of the segments after it.

Symbols are declared with a kind: ``data`` (bound per image) or ``trainable`` (bound per
parameter set). Angles are affine in them (see ``angles.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import chain

from hqvit.ir.angles import Angle
from hqvit.ir.gates import GATES, gate_spec

DATA = "data"
TRAINABLE = "trainable"


@dataclass(frozen=True)
class Gate:
    """A gate from ``gates.GATES`` on ``qubits`` (controls first) with affine ``angles``."""

    name: str
    qubits: tuple[int, ...]
    angles: tuple[Angle, ...] = ()

    def __post_init__(self) -> None:
        spec = GATES.get(self.name) or gate_spec(self.name)  # gate_spec: the error for unknown names
        qs = self.qubits
        if len(qs) != spec.num_qubits:
            raise ValueError(f"gate {self.name} acts on {spec.num_qubits} qubits, got {len(qs)}")
        # gates are built by the hundred thousand per compile: one- and two-qubit checks inline
        if (len(qs) == 2 and qs[0] == qs[1]) or (len(qs) > 2 and len(set(qs)) != len(qs)):
            raise ValueError(f"gate {self.name} repeats a qubit: {qs}")
        if len(self.angles) != spec.num_angles:
            raise ValueError(f"gate {self.name} takes {spec.num_angles} angles, got {len(self.angles)}")

    def on(self, qubits: tuple[int, ...]) -> Gate:
        return Gate(self.name, tuple(qubits), self.angles)


@dataclass(frozen=True)
class AmplitudeEncode:
    """Exact real amplitude encoding (Möttönen tree) of a register.

    ``qubits[0]`` is the root of the tree. The level-k multiplexor's Gray-code angles are the data
    symbols ``f"{prefix}{k}_{i}"`` for i < 2**k, computed from the image by
    ``runtime.encoding.encoding_angles``. ``zero_steps[k]`` lists the level-k steps whose angle
    is zero for every image the circuit accepts (a dataset specialization,
    ``hqvit.ir.specialization``): their rotations are left out.
    """

    qubits: tuple[int, ...]
    prefix: str
    zero_steps: tuple[tuple[int, ...], ...] = ()

    def kept(self, k: int, step: int) -> bool:
        return not self.zero_steps or step not in self.zero_steps[k]


@dataclass(frozen=True)
class Ansatz:
    """``layers`` × (RY on every qubit, then a CNOT chain); angles ``f"{prefix}{layer}_{qubit}"``."""

    qubits: tuple[int, ...]
    layers: int
    prefix: str


@dataclass(frozen=True)
class SwapTest:
    """Swap test between registers ``a`` and ``b``.

    ``lowering='cswap'``: ancilla, H, controlled-SWAPs, H; the swap-test bit is the ancilla.
    ``lowering='bell'``: destructive swap test, CNOT(a_m -> b_m), H(a_m); the bit is the parity
    of a_m AND b_m over the measured pairs. Both give the same P(bit, rest).
    """

    a: tuple[int, ...]
    b: tuple[int, ...]
    lowering: str
    ancilla: int | None = None


@dataclass(frozen=True)
class Measure:
    qubits: tuple[int, ...]


Operation = Gate | AmplitudeEncode | Ansatz | SwapTest | Measure
HIGH_LEVEL = (AmplitudeEncode, Ansatz, SwapTest)


def op_qubits(op: Operation) -> tuple[int, ...]:
    if isinstance(op, SwapTest):
        return op.a + op.b + ((op.ancilla,) if op.ancilla is not None else ())
    return op.qubits


@dataclass
class Segment:
    name: str
    ops: list[Operation] = field(default_factory=list)


def _gates_within(ops: list[Operation], n: int) -> bool:
    """True if every op is a ``Gate`` and every qubit lies in 0..n-1: the common case, checked by
    the smallest and largest qubit (C-level ``min``/``max``: every pass builds a circuit, and
    a loop per qubit in Python measured a tenth of a pass). False sends the caller to
    ``_check_qubits``, which also sees the other ops."""
    qubits = [op.qubits for op in ops if type(op) is Gate]
    if len(qubits) != len(ops):
        return False
    flat = list(chain.from_iterable(qubits))
    return not flat or (min(flat) >= 0 and max(flat) < n)


def _check_qubits(ops: list[Operation], n: int) -> None:
    """Raise for the first op with a qubit outside 0..n-1."""
    for op in ops:
        for q in op_qubits(op):
            if not 0 <= q < n:
                raise ValueError(f"operation {op} uses qubit {q} outside 0..{n - 1}")


@dataclass
class Circuit:
    """Operations on qubits ``0..num_qubits-1`` in ordered segments."""

    num_qubits: int
    segments: list[Segment]
    symbols: dict[str, str] = field(default_factory=dict)  # name -> DATA | TRAINABLE
    registers: dict[str, tuple[int, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for seg in self.segments:
            if not _gates_within(seg.ops, self.num_qubits):
                _check_qubits(seg.ops, self.num_qubits)

    def ops(self) -> Iterator[Operation]:
        for seg in self.segments:
            yield from seg.ops

    def segment(self, name: str) -> Segment:
        for seg in self.segments:
            if seg.name == name:
                return seg
        raise KeyError(f"no segment {name!r}")

    def gates(self) -> Iterator[Gate]:
        for op in self.ops():
            if isinstance(op, Gate):
                yield op

    def is_lowered(self) -> bool:
        return not any(isinstance(op, HIGH_LEVEL) for op in self.ops())

    def measured_qubits(self) -> tuple[int, ...]:
        out: list[int] = []
        for op in self.ops():
            if isinstance(op, Measure):
                out.extend(op.qubits)
        return tuple(out)

    def symbols_of_kind(self, kind: str) -> list[str]:
        return [name for name, k in self.symbols.items() if k == kind]

    def with_segments(self, segments: list[Segment]) -> Circuit:
        return Circuit(self.num_qubits, segments, dict(self.symbols), dict(self.registers))

    def used_symbols(self) -> set[str]:
        return {s for g in self.gates() for a in g.angles for s in a.symbols}


def without_measurements(circuit: Circuit) -> Circuit:
    """The same circuit with its ``Measure`` operations dropped: the unitary part, for comparing
    state vectors."""
    segs = [Segment(s.name, [op for op in s.ops if not isinstance(op, Measure)]) for s in circuit.segments]
    return circuit.with_segments(segs)


def compact(circuit: Circuit, keep: tuple[int, ...] | list[int] = ()) -> tuple[Circuit, dict[int, int]]:
    """Renumber the qubits a circuit uses (and ``keep``) to 0..k-1 in order; returns it and old -> new."""
    used = sorted({q for op in circuit.ops() for q in op_qubits(op)} | set(keep))
    remap = {q: i for i, q in enumerate(used)}

    def move(op: Operation) -> Operation:
        if isinstance(op, Gate):
            return op.on(tuple(remap[q] for q in op.qubits))
        if isinstance(op, Measure):
            return Measure(tuple(remap[q] for q in op.qubits))
        raise ValueError("compact expects a lowered circuit")

    segments = [Segment(s.name, [move(op) for op in s.ops]) for s in circuit.segments]
    registers = {k: tuple(remap[q] for q in v if q in remap) for k, v in circuit.registers.items()}
    return Circuit(len(used), segments, dict(circuit.symbols), registers), remap
