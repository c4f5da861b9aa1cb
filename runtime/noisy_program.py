"""A noisy compiled circuit as a list of fused two-qubit blocks, for batched trajectories.

The target's noise model (``targets.noise.TargetNoiseModel``) is inserted into the compiled
schedule once, exactly as the qsim trajectory path does it, and the result (gates and channels in
time order) is cut into blocks: every block acts on two qubits (a, b) and holds, in order, the
one-qubit operations and channels on a and b since their previous block, then the two-qubit
operation that opened it, then everything on exactly (a, b) that follows before anything else
touches a or b. Moving the one-qubit elements to their block is exact: nothing between their
original place and the block acts on their qubit, so they commute with everything they pass.
Channels on disjoint qubits commute as channels too, so unravelling them in block order is an
unravelling of the same overall channel (the trajectory average is unchanged).

Channels become trajectory elements with exact semantics:

- mixtures of unitaries (depolarizing): the unitary is drawn independently of the state, once
  per trajectory and channel (``sample_mixtures``), with the channel's probabilities;
- phase damping with parameter lambda is the phase-flip mixture (1 - q) rho + q Z rho Z with
  q = (1 - sqrt(1 - lambda)) / 2: both multiply the coherence by sqrt(1 - lambda) and leave the
  populations alone, so this is the same channel, now state-independent;
- amplitude damping (gamma) is not a mixture of unitaries; it keeps qsim's state-dependent
  semantics, K1 = sqrt(gamma)|0><1| with probability ||K1 psi||^2 (see ``noisy_kernels``).

Coherent idle noise (docs/noise/idle-noise.md, issue 15), with part 1's timing convention: every
operation starts at its moment's start, a qubit idles from the end of its operation to the
moment's end and through moments where it has none (``plan_moments``), a qubit before its first
operation is |0> and skipped. Both terms are diagonal and are placed at the end of their moment
(after the moment's operations and channels, before the next moment's operations): nothing acts
on the qubit between the idle interval and that place, and the depolarizing and damping channels
there commute with Z rotations, so for one qubit the placement is exact.

- static ZZ: per coupler (a, b) with zeta != 0 and both qubits touched, the FIXED two-qubit
  element diag(1, 1, 1, exp(-i zeta t)) with t the part of the moment where at least one of the
  pair idles (duration - the shorter of their operation times, 0 for no operation): during a
  joint two-qubit gate the ZZ is part of the calibrated gate. The part that overlaps the
  neighbour's operation is applied after that operation, the simulator's counterpart of the
  ``--dd auto`` estimate's "neighbour frame frozen during its operation"
  (docs/noise/dynamical-decoupling.md);
- quasi-static dephasing: a detuning delta_q ~ N(0, sigma_q^2) per qubit and trajectory (drawn by
  ``BatchedTrajectories.run``), exp(-i delta_q t Z / 2) per idle interval. It is not a block
  element: being diagonal, it commutes with everything on other qubits, so it is applied to the
  whole (2^N, R) batch at once, every trajectory with its own angle, between the last block that
  touches q before it and the next one (the one-qubit elements pending on q when it arrives are
  moved to the end of q's last block, where nothing on q follows them; a block on q is not
  extended past a pending phase). Phases whose allowed ranges overlap share one pass
  (``ph_start``); phases followed by nothing on their qubit are dropped (a diagonal at the end).

``coalesce_idle_phases`` then merges these per-moment phases across diagonal operations and
drops them after each qubit's last non-diagonal one (exact; far fewer blocks).

The noise ``scale`` multiplies zeta and sigma like every other rate, so scale 0 is noiseless. A
term that is zero (``@zz=0``, ``@t2star_ratio=1``, ions, generic profiles) inserts no element and
draws no random number: the program and the trajectories are then those without the term.

Per binding (an image's data angles and a head's parameters) each element gets its 4 x 4 matrix
on the block's local basis |a b> (a the more significant bit) and each block the product of its
elements with the error-free choices (identity for a mixture, K0 for damping).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import cirq
import numpy as np

from hqvit.compiler.pipeline import CompiledCircuit
from hqvit.ir.angles import Angle, AngleTable
from hqvit.ir.gates import gate_spec, gate_unitary

FIXED, RX, RY, RZ, MIX, AD = 0, 1, 2, 3, 4, 5
_AXIS = {"rx": RX, "ry": RY, "rz": RZ}
_U3_PARTS = (("rz", 2), ("ry", 0), ("rz", 1))  # u3 = RZ(phi) RY(theta) RZ(lam), time order
_SWAP_LOCAL = np.array([[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1]], dtype=np.complex128)
_I2 = np.eye(2, dtype=np.complex128)


def embed(m: np.ndarray, pos: int) -> np.ndarray:
    """A one-qubit matrix on local position ``pos`` (0 = a, 1 = b) of the block's |a b> basis."""
    return np.kron(m, _I2) if pos == 0 else np.kron(_I2, m)


def place(m: np.ndarray, pos: int, swapped: bool) -> np.ndarray:
    """An element's matrix on the block's local basis: a one-qubit ``m`` embedded at ``pos``
    (0, 1), a two-qubit one (pos 2) as is, or conjugated by SWAP when its qubit order is (b, a)."""
    if pos < 2:
        return embed(m, pos)
    return _SWAP_LOCAL @ m @ _SWAP_LOCAL if swapped else m


# Matrices that depend only on a few exact parameters are built once per process: thousands of
# channels of a compiled circuit share a handful of depolarizing probabilities, and cirq's
# mixture of a two-qubit depolarizing channel (16 Kronecker products) costs about a millisecond.
# Every key holds every value its matrices are computed from (the gate is rebuilt from the key
# alone), so a cached entry is the same arrays, bit for bit, that a fresh computation returns.
_CACHE_SIZE = 4096


def mixture_key(gate: cirq.Gate) -> tuple | None:
    """The exact parameters that determine ``gate``'s unravelling, or None for a channel whose
    unravelling is not cached. Phase damping: gamma; depolarizing: (p, number of qubits), which
    is cirq's own value-equality key of ``DepolarizingChannel``."""
    if isinstance(gate, cirq.PhaseDampingChannel):
        return ("phase_damp", float(gate.gamma))
    if type(gate) is cirq.DepolarizingChannel:
        return ("depolarize", float(gate.p), int(gate.n_qubits))
    return None


def unravel(channel: cirq.Gate | cirq.Operation) -> list[tuple[float, np.ndarray]]:
    """The channel (a gate or an operation) as a mixture of unitaries (probability, complex128
    matrix), state-independent: phase damping as its phase-flip mixture (module docstring),
    mixtures as cirq gives them."""
    gate = channel.gate if isinstance(channel, cirq.Operation) else channel
    if isinstance(gate, cirq.PhaseDampingChannel):
        q = (1.0 - math.sqrt(1.0 - float(gate.gamma))) / 2.0
        mixture = [(1.0 - q, np.eye(2)), (q, np.diag([1.0, -1.0]))]
    elif cirq.has_mixture(channel):
        mixture = list(cirq.mixture(channel))
    else:
        raise ValueError(f"the batched trajectory engine has no exact unravelling for {channel}")
    return [(float(p), np.asarray(u, dtype=np.complex128)) for p, u in mixture]


def _gate_of_key(key: tuple) -> cirq.Gate:
    if key[0] == "phase_damp":
        return cirq.PhaseDampingChannel(key[1])
    return cirq.DepolarizingChannel(key[1], n_qubits=key[2])


def _frozen(m: np.ndarray) -> np.ndarray:
    m = np.array(m, dtype=np.complex128)
    m.flags.writeable = False  # shared by every build that hits the cache
    return m


@functools.lru_cache(maxsize=_CACHE_SIZE)
def cached_unravel(key: tuple) -> tuple[tuple[float, np.ndarray], ...]:
    """``unravel`` of the gate ``key`` (from ``mixture_key``) describes."""
    return tuple((p, _frozen(u)) for p, u in unravel(_gate_of_key(key)))


@functools.lru_cache(maxsize=_CACHE_SIZE)
def cached_placed_mixture(key: tuple, pos: int, swapped: bool) -> tuple[tuple[np.ndarray, ...], tuple[bool, ...]]:
    """The mixture ``key``'s unitaries placed on a block (``place``) and which are the identity."""
    ops = tuple(_frozen(place(u, pos, swapped)) for _, u in cached_unravel(key))
    return ops, tuple(bool(np.allclose(m, np.eye(4))) for m in ops)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def cached_gate(name: str) -> np.ndarray:
    """A fixed (angle-free) gate's unitary as complex128."""
    return _frozen(gate_unitary(name))


@functools.lru_cache(maxsize=_CACHE_SIZE)
def cached_placed_gate(name: str, pos: int, swapped: bool) -> np.ndarray:
    """A fixed gate's unitary placed on a block (``place``)."""
    return _frozen(place(cached_gate(name), pos, swapped))


@dataclass
class _Element:
    kind: int
    qubits: tuple[int, ...]  # circuit qubits (compact numbering)
    slot: int = -1  # rotation: angle slot; MIX: mixture id; AD: damping id; FIXED: fixed id


@dataclass
class NoisyProgram:
    """Arrays the kernels read; built once per (compiled circuit, noise scale)."""

    num_qubits: int
    block_qubits: np.ndarray  # (n_blocks, 2) int64: bit positions (``position``) of qubits (a, b)
    block_start: np.ndarray  # (n_blocks + 1,) int64 element ranges
    elem_kind: np.ndarray  # (n_elem,) int64
    elem_pos: np.ndarray  # (n_elem,) int64: 0 = a, 1 = b, 2 = both
    elem_slot: np.ndarray  # (n_elem,) int64
    fixed: np.ndarray  # (n_fixed, 4, 4) complex128, already on the local basis
    mix_start: np.ndarray  # (n_mix + 1,) int64 ranges into mix_ops
    mix_ops: np.ndarray  # (n_mix_ops, 4, 4) complex128, local basis
    mix_cum: np.ndarray  # (n_mix_ops,) float64 cumulative probability within its mixture
    mix_identity: np.ndarray  # (n_mix_ops,) bool: the op is the identity
    mix_elem: np.ndarray  # (n_mix,) int64: the element of each mixture
    ad_gamma: np.ndarray  # (n_ad,) float64
    ad_lower: np.ndarray  # (n_blocks,) float64: prod(1 - gamma) of the block's damping elements
    table: AngleTable  # rotation slots <- symbols (data then trainable)
    slot_trainable: np.ndarray  # (n_slots,) bool
    n_data: int
    position: np.ndarray  # (num_qubits,) int64: circuit qubit -> bit position in the kernels' states
    # quasi-static detuning: every detuning the builder received (qubit, compact; idle ns) and the
    # per-qubit sigma (rad/ns, noise scale applied)
    qs_mix: np.ndarray  # (n_qs,) int64: 0..n_qs-1 (how many; kept for the tests' counts)
    qs_qubit: np.ndarray  # (n_qs,) int64
    qs_time: np.ndarray  # (n_qs,) float64
    qs_sigma: np.ndarray  # (num_qubits,) float64
    # where they are applied: right before block b, for entries ph_start[b]:ph_start[b+1], the
    # diagonal exp(-i delta_q t Z_q / 2) per trajectory (qubit q compact, bit its position)
    ph_start: np.ndarray  # (n_blocks + 1,) int64
    ph_qubit: np.ndarray  # (n_ph,) int64
    ph_bit: np.ndarray  # (n_ph,) int64
    ph_time: np.ndarray  # (n_ph,) float64

    def to_circuit_order(self, probs: np.ndarray) -> np.ndarray:
        """(..., 2^N) over kernel bit positions -> the same over circuit qubits (big-endian)."""
        lead = probs.shape[:-1]
        p = probs.reshape(lead + (2,) * self.num_qubits)
        axes = list(range(len(lead))) + [len(lead) + int(x) for x in self.position]
        return p.transpose(axes).reshape(probs.shape)

    def to_kernel_order(self, values: np.ndarray) -> np.ndarray:
        """The inverse of ``to_circuit_order``."""
        lead = values.shape[:-1]
        v = values.reshape(lead + (2,) * self.num_qubits)
        inverse = np.argsort(self.position)
        axes = list(range(len(lead))) + [len(lead) + int(x) for x in inverse]
        return v.transpose(axes).reshape(values.shape)

    @property
    def num_blocks(self) -> int:
        return len(self.block_qubits)

    def first_trainable_block(self) -> int:
        """Blocks before this one do not depend on trainable symbols: heads share them."""
        for b in range(self.num_blocks):
            ks = slice(self.block_start[b], self.block_start[b + 1])
            kinds, slots = self.elem_kind[ks], self.elem_slot[ks]
            rot = (kinds >= RX) & (kinds <= RZ)
            if rot.any() and self.slot_trainable[slots[rot]].any():
                return b
        return self.num_blocks

    def bind(self, symbols: np.ndarray) -> np.ndarray:
        """(n_symbols,) -> rotation angles (n_slots,) float64."""
        return self.table.bind(symbols)


def noisy_operations(compiled: CompiledCircuit, noise, remap: dict[int, int], line: list[cirq.Qid]) -> list[tuple]:
    """The compiled schedule with the noise model inserted, as ("gate", ir_gate with compact
    qubits) and ("channel", cirq op on ``line``) in time order. The noise model sees the same
    Cirq operations as the qsim trajectory path (``compiled.to_cirq``), so it plans the same
    channels."""
    to_line = {compiled.cirq_qubits()[p]: line[i] for p, i in remap.items()}
    symbolic = compiled.to_cirq(None, measurements=False).transform_qubits(to_line)
    gate_of: dict[int, object] = {}
    for layer, moment in zip(compiled.schedule.moments, symbolic.moments, strict=True):
        for g, op in zip(layer, moment.operations, strict=True):
            gate_of[id(op)] = g.on(tuple(remap[q] for q in g.qubits))
    moment_of = {id(op): k for k, moment in enumerate(symbolic.moments) for op in moment.operations}
    offsets = compiled.schedule.offsets
    start_of = {
        id(op): offsets.get((k, g.qubits[0]), 0.0)
        for k, (layer, moment) in enumerate(zip(compiled.schedule.moments, symbolic.moments, strict=True))
        for g, op in zip(layer, moment.operations, strict=True)
    }
    idle = idle_coherent_operations(compiled, noise, remap, symbolic)
    out: list[tuple] = []
    done = 0  # moments whose idle phases are placed
    for moment in noise.noisy_moments(symbolic.moments, line):
        for op in moment:
            g = gate_of.get(id(op))
            if g is not None:
                k = moment_of[id(op)]
                while done < k:  # the first operation of a later moment: earlier moments are over
                    out.extend(ph for _, ph in idle[done])
                    idle[done] = []
                    done += 1
                # an operation starting inside its moment: the phases of the idle time before it
                # go first (the moment's operations come in order of their start)
                while idle[k] and idle[k][0][0] <= start_of[id(op)] and start_of[id(op)] > 0:
                    out.append(idle[k].pop(0)[1])
            out.append(("gate", g) if g is not None else ("channel", op))
    for k in range(done, len(idle)):
        out.extend(ph for _, ph in idle[k])
    return coalesce_idle_phases(out, {q: i for i, q in enumerate(line)})


def _diagonal(kind: str, op) -> bool:
    """The operation is diagonal in the computational basis (as a channel: each Kraus operator)."""
    if kind == "gate":
        return gate_spec(op.name).diagonal
    return isinstance(op.gate, cirq.PhaseDampingChannel)  # Kraus sqrt(1-q) I, sqrt(q) Z


def coalesce_idle_phases(operations: list[tuple], index: dict[cirq.Qid, int]) -> list[tuple]:
    """The same evolution with far fewer idle elements. The ZZ and detuning phases are diagonal,
    so they commute with every diagonal gate (rz, cz, ...), with phase damping and with each
    other: each coupler's ZZ phases and each qubit's detuning times (one delta per qubit and
    trajectory, so exp(-i delta t1 Z/2) exp(-i delta t2 Z/2) = exp(-i delta (t1 + t2) Z/2)) are
    summed and emitted only right before the next non-diagonal operation on one of their qubits.
    What is still pending at the end is dropped: a diagonal unitary followed only by diagonal
    operations does not change the computational-basis distribution (the engine's output). So the
    distribution of every trajectory is unchanged; only the number of elements (and blocks) is.
    ``index``: channel qubit -> compact qubit."""
    zz: dict[tuple[int, int], float] = {}
    detune: dict[int, list[float]] = {}  # qubit -> [time, sigma]
    out: list[tuple] = []
    for kind, op in operations:
        if kind == "zz":
            key = (op[0], op[1])
            zz[key] = zz.get(key, 0.0) + op[2]
            continue
        if kind == "detuning":
            detune.setdefault(op[0], [0.0, op[2]])[0] += op[1]
            continue
        if not _diagonal(kind, op):
            qubits = op.qubits if kind == "gate" else tuple(index[q] for q in op.qubits)
            for q in qubits:
                if q in detune:
                    t, sigma = detune.pop(q)
                    out.append(("detuning", (q, t, sigma)))
            for key in [key for key in zz if key[0] in qubits or key[1] in qubits]:
                out.append(("zz", (key[0], key[1], zz.pop(key))))
        out.append((kind, op))
    return out


def idle_coherent_operations(
    compiled: CompiledCircuit, noise, remap: dict[int, int], symbolic: cirq.Circuit
) -> list[list[tuple[float, tuple]]]:
    """Per moment of ``symbolic`` (the compiled schedule on the engine's qubits), the coherent idle
    noise of its idle intervals, each with the time (ns after the moment's start) it must precede:
    ("zz", (x, y, phase)) with the |11> phase zeta * t, and ("detuning", (x, t, sigma_x)), compact
    qubits, sorted by that time. An operation at an offset o inside its moment
    (``Schedule.offsets``: a DD pulse) cuts its qubit's idle time there, and each coupler's
    too: what accrues before o must precede it (time o), the rest the moment's end (time = the
    moment's duration). Durations from ``plan_moments`` on the same operations the noise model
    costs, rates times the noise scale (module docstring)."""
    from hqvit.targets.noise import gate_name, plan_moments

    target = compiled.target
    scale = float(noise.scale)
    index = noise.index  # engine qubit -> target (physical) index
    compact = {p: i for p, i in remap.items()}
    offsets = compiled.schedule.offsets
    ops_per_moment = [
        [(gate_name(op), tuple(index[q] for q in op.qubits)) for op in m if not cirq.is_measurement(op)]
        for m in symbolic.moments
    ]
    plans = plan_moments(ops_per_moment, target)
    sigma = target.quasi_static_sigma() * scale
    couplers = [
        (a, b, scale * target.zz_rad_per_ns(a, b))
        for (a, b) in sorted(target.zz_khz)
        if a in compact and b in compact and target.zz_rad_per_ns(a, b) != 0.0 and scale != 0.0
    ]
    touched: set[int] = set()
    out = []
    for k, (ops, plan) in enumerate(zip(ops_per_moment, plans, strict=True)):
        span = plan.duration_ns
        busy: dict[int, tuple[float, float]] = {}  # qubit -> [start, end) of its operation
        for name, qs in ops:
            d = target.gate_duration(name, qs)
            for q in qs:
                o = offsets.get((k, q), 0.0)
                busy[q] = (o, o + d)
        touched.update(busy)
        cut = {q: o for q, (o, _) in busy.items() if o > 0}
        here: list[tuple[float, tuple]] = []
        for a, b, zeta in couplers:
            if a not in touched or b not in touched:
                continue
            # [lo, hi) pieces between the pair's cuts; in each, the time at least one idles (a
            # joint two-qubit gate's own time is in its calibrated error, as without cuts)
            edges = sorted({0.0, span} | {cut[q] for q in (a, b) if q in cut})
            (a0, a1), (b0, b1) = busy.get(a, (span, span)), busy.get(b, (span, span))
            for lo, hi in zip(edges, edges[1:], strict=False):
                both_busy = max(0.0, min(hi, a1, b1) - max(lo, a0, b0))
                t = hi - lo - both_busy
                if t > 0:
                    here.append((hi, ("zz", (compact[a], compact[b], zeta * t))))
        for q, t in plan.idle:  # touched qubits only, t > 0
            if sigma[q] <= 0:
                continue
            before = cut.get(q, 0.0)
            if before > 0:
                here.append((before, ("detuning", (compact[q], before, float(sigma[q])))))
            if t - before > 1e-9:  # (a pulse that ends with its moment leaves float dust)
                here.append((span, ("detuning", (compact[q], t - before, float(sigma[q])))))
        here.sort(key=lambda x: x[0])
        out.append(here)
    return out


def stab_phases(phases: list) -> dict[int, list]:
    """Block -> the phases applied right before it. Each phase (.., .., first, last) may go right
    before any block in [first, last] (last < 0: dropped, nothing acts after it); as few points
    as possible by greedy interval stabbing: sorted by their last block, a point there serves
    every phase that may already precede it, which is optimal for intervals."""
    live = sorted((ph for ph in phases if ph[3] >= 0), key=lambda ph: ph[3])
    at: dict[int, list] = {}
    i = 0
    while i < len(live):
        point = live[i][3]
        while i < len(live) and live[i][2] <= point:
            at.setdefault(point, []).append(live[i])
            i += 1
    return at


class _Builder:
    def __init__(
        self, num_qubits: int, line: list[cirq.Qid], symbol_order: list[str], n_data: int, cached: bool = True
    ):
        self.n = num_qubits
        self.cached = cached
        self.index = {q: i for i, q in enumerate(line)}
        self.symbol_order, self.n_data = symbol_order, n_data
        self.angles: list[Angle] = []
        self.fixed: list[np.ndarray] = []
        self.fixed_key: list[str | None] = []  # the gate's name (cached matrices) or None
        self.mix_key: list[tuple | None] = []  # per mixture: ``mixture_key`` or None
        self.mix_ops: list[np.ndarray] = []
        self.mix_probs: list[float] = []
        self.mix_start = [0]
        self.mix_elem: list[int] = []
        self.ad: list[float] = []
        self.qs: list[tuple[int, float]] = []  # (qubit, idle ns) of each detuning element
        self.qs_sigma = np.zeros(num_qubits)
        self.blocks: list[tuple[list[int], list[_Element]]] = []  # ([a, b], elements)
        self.pending: list[list[_Element]] = [[] for _ in range(num_qubits)]
        self.last: list[int] = [-1] * num_qubits
        self.phases: list[list] = []  # [qubit, idle ns, first block it may precede, its block]
        self.open: list[list[int]] = [[] for _ in range(num_qubits)]  # phases awaiting q's next block

    # -- elements ------------------------------------------------------------------------------
    def gate(self, g) -> list[_Element]:
        if g.name in _AXIS:
            self.angles.append(g.angles[0])
            return [_Element(_AXIS[g.name], g.qubits, len(self.angles) - 1)]
        if g.name == "u3":
            out = []
            for name, k in _U3_PARTS:
                self.angles.append(g.angles[k])
                out.append(_Element(_AXIS[name], g.qubits, len(self.angles) - 1))
            return out
        if len(g.qubits) > 2:
            raise ValueError(f"the batched trajectory engine takes 1- and 2-qubit gates, got {g.name}")
        if self.cached:
            self.fixed.append(cached_gate(g.name))
            self.fixed_key.append(g.name)
        else:
            self.fixed.append(np.array(gate_unitary(g.name), dtype=np.complex128))
            self.fixed_key.append(None)
        return [_Element(FIXED, g.qubits, len(self.fixed) - 1)]

    def channel(self, op: cirq.Operation) -> list[_Element]:
        qubits = tuple(self.index[q] for q in op.qubits)
        if isinstance(op.gate, cirq.AmplitudeDampingChannel):
            self.ad.append(float(op.gate.gamma))
            return [_Element(AD, qubits, len(self.ad) - 1)]
        key = mixture_key(op.gate) if self.cached else None
        for p, u in cached_unravel(key) if key is not None else unravel(op):
            self.mix_ops.append(u)
            self.mix_probs.append(p)
        self.mix_start.append(len(self.mix_ops))
        self.mix_key.append(key)
        return [_Element(MIX, qubits, len(self.mix_start) - 2)]

    def zz(self, x: int, y: int, phase: float) -> list[_Element]:
        """exp(-i phase |11><11|) on (x, y): a fixed diagonal two-qubit element."""
        self.fixed.append(np.diag([1.0, 1.0, 1.0, np.exp(-1j * phase)]).astype(np.complex128))
        self.fixed_key.append(None)  # a phase per idle window: hardly ever repeated
        return [_Element(FIXED, (x, y), len(self.fixed) - 1)]

    def detuning(self, q: int, t: float, sigma: float) -> list[_Element]:
        """exp(-i delta_q t Z / 2), delta_q drawn per trajectory: no element but a per-trajectory
        diagonal phase applied to the whole batch between blocks (``NoisyProgram.ph_*``). The
        one-qubit elements still pending on q happened before it: they go to the end of q's
        last block (or a block of their own), where nothing else on q follows, so the phase can
        sit anywhere after that block and before the next block that touches q."""
        self.qs_sigma[q] = sigma
        self.qs.append((q, t))
        # a mixture of one identity op that no element uses: it takes the uniform the per-
        # trajectory op of earlier versions took, so the other mixtures draw as they did
        self.mix_ops.append(np.eye(2, dtype=np.complex128))
        self.mix_probs.append(1.0)
        self.mix_start.append(len(self.mix_ops))
        self.mix_key.append(None)
        if self.pending[q]:
            if self.last[q] >= 0 and not self.open[q]:
                self.blocks[self.last[q]][1].extend(self.pending[q])
            else:  # (after an earlier phase on q: in a block of their own, which that phase precedes)
                partner = (q + 1) % self.n
                self.blocks.append(([q, partner], list(self.pending[q])))
                self.last[q] = len(self.blocks) - 1
                self._resolve(q, self.last[q])
            self.pending[q] = []
        self.phases.append([q, t, self.last[q] + 1, -1])
        self.open[q].append(len(self.phases) - 1)
        return []

    # -- blocks --------------------------------------------------------------------------------
    def add(self, elements: list[_Element]) -> None:
        for e in elements:
            if len(e.qubits) == 1:
                self.pending[e.qubits[0]].append(e)
                continue
            x, y = e.qubits
            b = self.last[x]
            if b < 0 or b != self.last[y] or self.open[x] or self.open[y]:
                self.blocks.append(([x, y], []))
                b = len(self.blocks) - 1
            self.blocks[b][1].extend(self.pending[x] + self.pending[y] + [e])
            self.pending[x], self.pending[y] = [], []
            self.last[x] = self.last[y] = b
            self._resolve(x, b)
            self._resolve(y, b)

    def _resolve(self, q: int, b: int) -> None:
        for i in self.open[q]:
            self.phases[i][3] = b
        self.open[q] = []

    def finish(self) -> None:
        for q in range(self.n):
            if not self.pending[q]:
                continue
            if self.last[q] >= 0 and not self.open[q]:
                self.blocks[self.last[q]][1].extend(self.pending[q])
            else:  # a qubit no two-qubit operation touches, or elements after a phase on q:
                # a block with any partner (identity on it)
                partner = (q + 1) % self.n if self.n > 1 else q
                self.blocks.append(([q, partner], list(self.pending[q])))
                self.last[q] = len(self.blocks) - 1
                self._resolve(q, self.last[q])
            self.pending[q] = []
        # phases still open are followed by nothing on their qubit: a diagonal at the end, dropped

    def program(self) -> NoisyProgram:
        if self.n < 2:
            raise ValueError("the batched trajectory engine needs at least two qubits")
        kinds, pos, slots, starts, qubits = [], [], [], [0], []
        fixed_local: list[np.ndarray] = []
        mix_local = [np.eye(4, dtype=np.complex128)] * len(self.mix_ops)
        # an op no element places (a detuning's stand-in) stays the identity
        ident = [True] * len(self.mix_ops)
        mix_elem = [0] * (len(self.mix_start) - 1)
        lower = []
        for (a, b), elements in self.blocks:
            qubits.append((a, b))
            low = 1.0
            for e in elements:
                p = 2 if len(e.qubits) == 2 else (0 if e.qubits[0] == a else 1)
                swapped = p == 2 and e.qubits != (a, b)
                slot = e.slot
                if e.kind == FIXED:
                    name = self.fixed_key[e.slot]
                    if name is not None:
                        fixed_local.append(cached_placed_gate(name, p, swapped))
                    else:
                        fixed_local.append(place(self.fixed[e.slot], p, swapped))
                    slot = len(fixed_local) - 1
                elif e.kind == MIX:
                    mix_elem[e.slot] = len(kinds)
                    lo, hi = self.mix_start[e.slot], self.mix_start[e.slot + 1]
                    key = self.mix_key[e.slot]
                    if key is not None:
                        mix_local[lo:hi], ident[lo:hi] = cached_placed_mixture(key, p, swapped)
                    else:
                        for k in range(lo, hi):
                            mix_local[k] = place(self.mix_ops[k], p, swapped)
                            ident[k] = bool(np.allclose(mix_local[k], np.eye(4)))
                elif e.kind == AD:
                    low *= 1.0 - self.ad[e.slot]
                kinds.append(e.kind)
                pos.append(p)
                slots.append(slot)
            starts.append(len(kinds))
            lower.append(low)
        cum = np.zeros(len(self.mix_ops))
        for m in range(len(self.mix_start) - 1):
            lo, hi = self.mix_start[m], self.mix_start[m + 1]
            c = np.cumsum(self.mix_probs[lo:hi])
            cum[lo:hi] = c / c[-1]
            cum[hi - 1] = 1.0
        # the most used qubits get the most significant bit positions: a block whose lower qubit
        # sits low in the index leaves short contiguous runs, which the kernels handle slowest
        use = np.zeros(self.n, dtype=np.int64)
        for a, b in qubits:
            use[a] += 1
            use[b] += 1
        position = np.empty(self.n, dtype=np.int64)
        position[np.argsort(-use, kind="stable")] = np.arange(self.n)
        qubits = [(int(position[a]), int(position[b])) for a, b in qubits]
        table = AngleTable(self.angles, self.symbol_order)
        ident = np.array(ident, dtype=bool)
        at = stab_phases(self.phases)
        ph_start, ph_qubit, ph_time = [0], [], []
        for b in range(len(self.blocks)):
            merged: dict[int, float] = {}
            for q, t, _, _ in at.get(b, []):
                merged[q] = merged.get(q, 0.0) + t
            for q in sorted(merged):
                ph_qubit.append(q)
                ph_time.append(merged[q])
            ph_start.append(len(ph_qubit))
        as_i = lambda x: np.asarray(x, dtype=np.int64)  # noqa: E731
        return NoisyProgram(
            num_qubits=self.n,
            block_qubits=as_i(qubits).reshape(-1, 2),
            block_start=as_i(starts),
            elem_kind=as_i(kinds),
            elem_pos=as_i(pos),
            elem_slot=as_i(slots),
            fixed=np.array(fixed_local or [np.eye(4)], dtype=np.complex128),
            mix_start=as_i(self.mix_start),
            mix_ops=np.array(mix_local or [np.eye(4)], dtype=np.complex128),
            mix_cum=cum if len(cum) else np.ones(1),
            mix_identity=ident if len(ident) else np.ones(1, dtype=bool),
            mix_elem=as_i(mix_elem),
            ad_gamma=np.array(self.ad or [0.0], dtype=np.float64),
            ad_lower=np.array(lower, dtype=np.float64),
            table=table,
            slot_trainable=np.any(table.coeff[:, self.n_data :] != 0, axis=1),
            n_data=self.n_data,
            position=position,
            qs_mix=np.arange(len(self.qs), dtype=np.int64),
            qs_qubit=as_i([q for q, _ in self.qs]),
            qs_time=np.array([t for _, t in self.qs], dtype=np.float64),
            qs_sigma=self.qs_sigma,
            ph_start=as_i(ph_start),
            ph_qubit=as_i(ph_qubit),
            ph_bit=as_i([int(position[q]) for q in ph_qubit]),
            ph_time=np.array(ph_time, dtype=np.float64),
        )


def build_program(
    operations: list[tuple],
    num_qubits: int,
    line: list[cirq.Qid],
    symbol_order: list[str],
    n_data: int,
    cached: bool = True,
) -> NoisyProgram:
    """``operations`` from ``noisy_operations``; ``symbol_order`` data symbols first. ``cached``
    False computes every channel's and gate's matrices afresh (the reference the cached build
    is tested against, bit for bit)."""
    builder = _Builder(num_qubits, line, symbol_order, n_data, cached)
    for kind, op in operations:
        if kind == "gate":
            builder.add(builder.gate(op))
        elif kind == "channel":
            builder.add(builder.channel(op))
        elif kind == "zz":
            builder.add(builder.zz(*op))
        elif kind == "detuning":
            builder.add(builder.detuning(*op))
        else:
            raise ValueError(f"unknown noisy operation kind {kind!r}")
    builder.finish()
    return builder.program()


def sample_mixtures(program: NoisyProgram, rows: int, rng: np.random.Generator) -> np.ndarray:
    """(rows, n_mix) int64: each trajectory's choice (index into ``mix_ops``) for every mixture,
    drawn with the mixture's probabilities, independently of the state."""
    from hqvit.runtime.noisy_kernels import choose_mixtures

    n_mix = len(program.mix_start) - 1
    return choose_mixtures(rng.random((rows, n_mix)), program.mix_start, program.mix_cum)
