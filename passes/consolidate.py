"""Two-qubit block consolidation: resynthesize runs of numeric gates on one qubit pair.

A block is a maximal run of gates that act only on the pair {a, b} (one-qubit gates on a or b
and two-qubit gates on exactly a and b), uninterrupted by any other gate on a or b. Its 4x4
unitary is computed and, by the KAK decomposition, needs 0, 1, 2 or 3 CZs (Cirq's
``two_qubit_matrix_to_cz_operations`` finds that minimum). When the minimum is below the
block's current two-qubit count, the block is replaced by the synthesized CZs and u3 gates.

Why it is correct: every gate between a block's first and last gate that touches a or b is in
the block, so all gates in between act on other qubits and commute with it; the replacement is
emitted where the block's last gate was, and it has the same unitary up to a global phase
(checked after synthesis). Symbolic angles are never resolved: a gate with a free symbol ends
the blocks on its qubits and is copied unchanged (its unitary depends on the binding), so
compile-once / bind-many keeps working. Typical gains: a routing SWAP next to a CNOT-pair
interaction (3 CZs instead of 5), QFT controlled phases, random two-qubit runs.
"""

from __future__ import annotations

import math

import cirq
import numpy as np

from hqvit.ir.circuit import Circuit, Gate, Segment
from hqvit.ir.gates import matrix
from hqvit.passes.base import PassContext
from hqvit.passes.native import u3_from_matrix

_Q = cirq.LineQubit.range(2)
_SWAP_IDX = np.array([0, 2, 1, 3])


class _Block:
    __slots__ = ("pair", "slots", "two_qubit")

    def __init__(self, pair: tuple[int, int]) -> None:
        self.pair = pair  # (a, b): a is the most significant qubit of the block unitary
        self.slots: list[int] = []  # positions in the output list
        self.two_qubit = 0

    def key(self, ops: list) -> tuple | None:
        """What the block's unitary depends on: each gate's name, its qubits as positions in the
        pair (0 for a, 1 for b) and its angles' values; None if an angle is -0.0 (it compares
        equal to 0.0 but can change the synthesized angles' last bits)."""
        a, _ = self.pair
        out = []
        for k in self.slots:
            g = ops[k]
            consts = tuple(x.const for x in g.angles)
            if any(c == 0.0 and math.copysign(1.0, c) < 0 for c in consts):
                return None
            out.append((g.name, tuple(0 if q == a else 1 for q in g.qubits), consts))
        return tuple(out)

    def unitary(self, ops: list) -> np.ndarray:
        a, _ = self.pair
        u = np.eye(4, dtype=complex)
        for k in self.slots:
            g = ops[k]
            m = matrix(g)
            if len(g.qubits) == 1:
                m = np.kron(m, np.eye(2)) if g.qubits[0] == a else np.kron(np.eye(2), m)
            else:
                if g.qubits[0] != a:  # gate written on (b, a): swap the basis order
                    m = m[np.ix_(_SWAP_IDX, _SWAP_IDX)]
            u = m @ u
        return u


_YY = np.kron(np.array([[0, -1j], [1j, 0]]), np.array([[0, -1j], [1j, 0]]))


def entanglers_needed(u: np.ndarray, atol: float = 1e-9) -> int:
    """Minimum CNOT/CZ count of a two-qubit unitary (Shende, Bullock, Markov 2004, Prop. III.1-3):
    with u scaled into SU(4) and gamma = u (Y x Y) u^T (Y x Y): 0 iff gamma = +-I, 1 iff
    tr gamma = 0 and gamma^2 = -I, 2 iff tr gamma is real, else 3. A cheap test that lets the
    pass skip synthesis for blocks that cannot shrink."""
    su = u / np.linalg.det(u) ** 0.25
    g = su @ _YY @ su.T @ _YY
    tr = np.trace(g)
    if np.allclose(g, np.eye(4), atol=atol) or np.allclose(g, -np.eye(4), atol=atol):
        return 0
    if abs(tr) < atol and np.allclose(g @ g, -np.eye(4), atol=atol):
        return 1
    if abs(tr.imag) < 1e-7:
        return 2
    return 3


def _synthesize(u: np.ndarray, pair: tuple[int, int]) -> list[Gate]:
    ops = cirq.two_qubit_matrix_to_cz_operations(_Q[0], _Q[1], u, allow_partial_czs=False)
    out: list[Gate] = []
    for op in ops:
        if len(op.qubits) == 1:
            out.append(u3_from_matrix(cirq.unitary(op), pair[op.qubits[0].x]))
        else:
            out.append(Gate("cz", pair))
    return out


# block key -> its replacement on the pair positions (name, positions, angles), or () when the
# block is kept: a routed circuit repeats the same few blocks (a SWAP's CNOTs beside the same
# one-qubit gates) hundreds of times, and each costs a unitary, a KAK test and a synthesis
_REPLACEMENTS: dict[tuple, tuple] = {}
_REPLACEMENTS_MAX = 1 << 14


def _replacement(block: _Block, ops: list) -> tuple:
    """The block's resynthesis on the pair positions (name, positions, angles), or () to keep it."""
    key = block.key(ops)
    hit = None if key is None else _REPLACEMENTS.get(key)
    if hit is None:
        hit = ()
        u = block.unitary(ops)
        if entanglers_needed(u) < block.two_qubit:
            new = _synthesize(u, (0, 1))
            if sum(len(g.qubits) == 2 for g in new) < block.two_qubit:
                hit = tuple((g.name, g.qubits, g.angles) for g in new)
        if key is not None:
            if len(_REPLACEMENTS) >= _REPLACEMENTS_MAX:
                _REPLACEMENTS.clear()
            _REPLACEMENTS[key] = hit
    return hit


def _numeric(g: Gate) -> bool:
    """No angle of ``g`` has a symbol (most gates here have no angle at all)."""
    angles = g.angles
    return not angles or not any([a.terms for a in angles])


def _consolidate_ops(ops: list) -> list:
    out: list = list(ops)
    open_block: dict[int, _Block] = {}

    def close(q: int) -> None:
        block = open_block.get(q)
        if block is None:
            return
        for p in block.pair:
            open_block.pop(p, None)
        if block.two_qubit < 2:
            return  # one two-qubit gate cannot be beaten by resynthesis
        replacement = _replacement(block, out)
        if not replacement:
            return
        pair = block.pair
        for k in block.slots[:-1]:
            out[k] = None
        out[block.slots[-1]] = [Gate(name, tuple(pair[i] for i in qs), angles) for name, qs, angles in replacement]

    for k, op in enumerate(ops):
        qubits = getattr(op, "qubits", ())
        if not isinstance(op, Gate) or len(qubits) > 2 or not _numeric(op):
            for q in qubits:
                if q in open_block:  # ``close`` does nothing otherwise
                    close(q)
            continue
        if len(qubits) == 1:
            block = open_block.get(qubits[0])
            if block is not None:
                block.slots.append(k)
            continue
        a, b = qubits
        block = open_block.get(a)
        if block is None or block is not open_block.get(b):
            if block is not None:
                close(a)
            if b in open_block:
                close(b)
            block = _Block((a, b))
            open_block[a] = open_block[b] = block
        block.slots.append(k)
        block.two_qubit += 1
    for q in list(open_block):
        close(q)
    flat: list = []
    for item in out:
        if item is None:
            continue
        if isinstance(item, list):
            flat.extend(item)
        else:
            flat.append(item)
    return flat


def consolidate_blocks(circuit: Circuit) -> Circuit:
    """Resynthesize every numeric two-qubit block that KAK can do with fewer entangling gates."""
    return circuit.with_segments([Segment(s.name, _consolidate_ops(s.ops)) for s in circuit.segments])


def run(circuit: Circuit, ctx: PassContext) -> Circuit:
    return consolidate_blocks(circuit)
