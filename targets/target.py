"""A compilation target: one object holding everything the compiler knows about a device.

In the spirit of Qiskit's Target: qubits, coupling graph, native gates, durations, per-qubit and
per-coupler error rates, T1/T2, readout errors and crosstalk. Error rates are average gate
infidelities (what randomized benchmarking reports); readout error is the average of
P(1|0) and P(0|1). The coherent idle terms (static ZZ per coupler, T2* next to the echo T2) and
what they mean physically are documented in ``targets/idle_noise.py``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import networkx as nx
import numpy as np

from hqvit.ir.errors import InputError

if TYPE_CHECKING:
    from hqvit.targets.coupling import CouplingData

# 1-qubit native sets: "any" means every single-qubit rotation is one physical pulse
# (Google's PhasedXZ, the ions' arbitrary-axis rotations); IBM's is rz (virtual), sx, x.
ANY_ONE_QUBIT = ("u3", "rx", "ry", "rz")
IBM_ONE_QUBIT = ("rz", "sx", "x")
ENTANGLERS = ("cx", "cz", "ecr", "sqrt_iswap", "ms", "zz")
ONE_QUBIT_NATIVE_SETS = {"any": ANY_ONE_QUBIT, "ibm": IBM_ONE_QUBIT}
# No device here has a native three-qubit gate: one is charged as its expansion, whose CNOT count
# (8 for a Fredkin, the larger of Toffoli's 6 and Fredkin's 8) prices both its error and its time.
THREE_QUBIT_CNOTS = 8


def error_cost(error: float) -> float:
    """-log(1 - error): the additive cost of a gate with this infidelity.

    Success probabilities multiply along a path, so their negative logs add and shortest paths
    find the most reliable route. The 1e-12 floor keeps a dead coupler (error 1) finite.
    math.log, not np.log: numpy's SIMD log can differ from libm in the last bit, and every
    distance, layout and routing decision must see the same number for the same coupler.
    """
    return -math.log(max(1.0 - error, 1e-12))


@dataclass
class Target:
    name: str
    num_qubits: int
    couplers: dict[tuple[int, int], float]  # (a, b) with a < b -> two-qubit gate error
    one_qubit_native: str  # key of ONE_QUBIT_NATIVE_SETS
    two_qubit_gate: str  # one of ENTANGLERS
    durations_ns: dict[str, float]  # 'one_qubit', 'two_qubit', 'measure'
    one_qubit_error: np.ndarray  # (n,)
    readout_error: np.ndarray  # (n,)
    t1_us: np.ndarray  # (n,)
    t2_us: np.ndarray  # (n,)
    coupler_duration_ns: dict[tuple[int, int], float] = field(default_factory=dict)
    crosstalk: list[tuple[tuple[int, int], tuple[int, int]]] = field(default_factory=list)
    virtual_z: bool = False  # rz is a frame change: no error, no duration
    source: str = ""
    qubit_labels: list[str] | None = None
    disabled_qubits: frozenset[int] = frozenset()  # in the numbering, never used (dead couplers)
    ideal: bool = False  # the logical target: no noise, every IR gate native
    # coherent idle noise (targets/idle_noise.py): static ZZ in kHz per coupler (signed; a coupler
    # absent here has none) and the Ramsey T2* per qubit (None: equal to the echo T2, no
    # quasi-static dephasing); ``idle_noise_source`` says where each came from
    zz_khz: dict[tuple[int, int], float] = field(default_factory=dict)
    t2star_us: np.ndarray | None = None
    idle_noise_source: dict[str, str] = field(default_factory=dict)
    # time between the end of one shot (readout) and the start of the next, in µs: what a device
    # spends per shot besides the schedule (reset, cooling, control overhead); None when no figure
    # is known. ``rep_delay_source`` says where the figure comes from (or why it is missing).
    rep_delay_us: float | None = None
    rep_delay_source: str = ""

    def __post_init__(self) -> None:
        self.couplers = {(min(a, b), max(a, b)): float(e) for (a, b), e in self.couplers.items()}
        self.zz_khz = {(min(a, b), max(a, b)): float(v) for (a, b), v in self.zz_khz.items()}
        self.disabled_qubits = frozenset(int(q) for q in self.disabled_qubits)
        for name in ("one_qubit_error", "readout_error", "t1_us", "t2_us"):
            setattr(self, name, np.asarray(getattr(self, name), dtype=np.float64))
        self.t2star_us = np.array(self.t2_us if self.t2star_us is None else self.t2star_us, dtype=np.float64)
        self.validate()

    # -- structure --------------------------------------------------------------------------
    @property
    def edges(self) -> list[tuple[int, int]]:
        return sorted(self.couplers)

    # The cached views below are derived from the fields once; a Target is not mutated after
    # construction (``dataclasses.replace`` builds a new one, with fresh caches).
    @cached_property
    def graph(self) -> nx.Graph:
        """The coupling graph; edge attributes ``error`` and ``weight`` (= ``coupler_costs``)."""
        g = nx.Graph()
        g.add_nodes_from(range(self.num_qubits))
        for (a, b), e in self.couplers.items():
            g.add_edge(a, b, error=e, weight=self.coupler_costs[(a, b)])
        return g

    @cached_property
    def coupler_costs(self) -> dict[tuple[int, int], float]:
        """(a, b) with a < b -> ``error_cost`` of the coupler: the one number every placement and
        routing pass weighs a coupler by."""
        return {pair: error_cost(e) for pair, e in self.couplers.items()}

    def coupler_cost(self, a: int, b: int) -> float:
        """``error_cost`` of a two-qubit gate on (a, b); a pair without a coupler costs as the median."""
        cost = self.coupler_costs.get((min(a, b), max(a, b)))
        return error_cost(self.two_qubit_error(a, b)) if cost is None else cost

    @cached_property
    def qubit_cost(self) -> np.ndarray:
        """(n,) readout + single-qubit error: what placing a logical qubit on each physical one
        costs (read-only, shared)."""
        cost = self.readout_error + self.one_qubit_error
        cost.flags.writeable = False
        return cost

    @cached_property
    def error_distances(self) -> np.ndarray:
        """(n, n) shortest-path lengths over usable qubits with edge weight ``coupler_costs``; inf
        between qubits without a usable path. Read-only: it is shared by every caller."""
        from scipy.sparse import coo_matrix  # scipy comes with cirq-core and scikit-learn
        from scipy.sparse.csgraph import dijkstra

        n = self.num_qubits
        usable = set(self.usable_qubits)
        edges = [(a, b, w) for a, b, w in self.graph.edges(data="weight", default=1.0) if a in usable and b in usable]
        dist = np.full((n, n), np.inf)
        if edges:
            a, b, w = (np.array(x) for x in zip(*edges, strict=True))
            # Dijkstra in compiled code: the networkx loop took seconds on 133-qubit devices.
            # A zero weight would read as a missing entry in a sparse matrix: nudge it up.
            graph = coo_matrix((np.maximum(w.astype(float), 1e-300), (a, b)), shape=(n, n)).tocsr()
            dist = dijkstra(graph, directed=False)
        for q in usable:
            dist[q, q] = 0.0
        unusable = [q for q in range(n) if q not in usable]
        dist[unusable, :] = np.inf
        dist[:, unusable] = np.inf
        dist.flags.writeable = False
        return dist

    @cached_property
    def coupling(self) -> CouplingData:
        """The routing arrays (neighbours, normalised costs, distances) of the usable couplers."""
        from hqvit.targets.coupling import CouplingData

        return CouplingData(self)

    @property
    def usable_qubits(self) -> list[int]:
        return [q for q in range(self.num_qubits) if q not in self.disabled_qubits]

    @property
    def one_qubit_gates(self) -> tuple[str, ...]:
        return ONE_QUBIT_NATIVE_SETS[self.one_qubit_native]

    @property
    def native_gates(self) -> tuple[str, ...]:
        return self.one_qubit_gates + (self.two_qubit_gate,)

    @property
    def fully_connected(self) -> bool:
        n = self.num_qubits
        return len(self.couplers) == n * (n - 1) // 2

    @property
    def uniform_errors(self) -> bool:
        """Every coupler, qubit and readout error and every T1 / T2 the same: a noise-blind
        compile would repeat the noise-aware one."""
        return (
            len(set(self.couplers.values())) <= 1
            and np.ptp(self.one_qubit_error) == 0
            and np.ptp(self.readout_error) == 0
            and np.ptp(self.t1_us) == 0
            and np.ptp(self.t2_us) == 0
        )

    def coupled(self, a: int, b: int) -> bool:
        return (min(a, b), max(a, b)) in self.couplers

    def two_qubit_error(self, a: int, b: int) -> float:
        """The coupler's error, or the median one for a pair the device cannot couple directly."""
        error = self.couplers.get((min(a, b), max(a, b)))  # the median only when needed: it sorts
        return self.median_two_qubit_error() if error is None else error

    def two_qubit_duration(self, a: int, b: int) -> float:
        return self.coupler_duration_ns.get((min(a, b), max(a, b)), self.durations_ns["two_qubit"])

    # -- gate costs: the one place that decides what an operation costs on this device ------
    def is_virtual(self, gate_name: str) -> bool:
        """True for gates the device applies as a frame change: no pulse, no error, no time."""
        return self.virtual_z and gate_name == "rz"

    def gate_error(self, gate_name: str, qubits: tuple[int, ...]) -> float:
        """Average infidelity of ``gate_name`` on physical ``qubits``.

        A pair without a coupler gets the median coupler error; a three-qubit gate the error of
        ``THREE_QUBIT_CNOTS`` CNOTs at the median coupler error.
        """
        if len(qubits) == 1:
            return 0.0 if self.is_virtual(gate_name) else float(self.one_qubit_error[qubits[0]])
        if len(qubits) == 2:
            return self.two_qubit_error(*qubits)
        return 1.0 - (1.0 - self.median_two_qubit_error()) ** THREE_QUBIT_CNOTS

    def gate_duration(self, gate_name: str, qubits: tuple[int, ...]) -> float:
        """Duration in ns of ``gate_name`` on physical ``qubits`` (same conventions as gate_error)."""
        if len(qubits) == 1:
            return 0.0 if self.is_virtual(gate_name) else self.durations_ns["one_qubit"]
        if len(qubits) == 2:
            return self.two_qubit_duration(*qubits)
        return THREE_QUBIT_CNOTS * self.durations_ns["two_qubit"]

    def median_two_qubit_error(self) -> float:
        return float(np.median(list(self.couplers.values()))) if self.couplers else 0.0

    def tphi_us(self) -> np.ndarray:
        """Pure dephasing time: 1/Tphi = 1/T2 - 1/(2 T1); infinite where T2 >= 2 T1 (fit noise)."""
        rate = 1.0 / self.t2_us - 1.0 / (2.0 * self.t1_us)
        with np.errstate(divide="ignore"):
            return np.where(rate > 0, 1.0 / np.where(rate > 0, rate, 1.0), np.inf)

    def quasi_static_sigma(self) -> np.ndarray:
        """(n,) standard deviation, in rad/ns, of each qubit's quasi-static detuning (one draw per
        shot, H = delta Z / 2): the Ramsey envelope exp(-t/T2 - sigma^2 t^2 / 2) reaches 1/e at T2*,
        so sigma^2 = 2 (1 - T2*/T2) / T2*^2; zero where T2* >= T2 (an echo removes nothing)."""
        t2, t2s = self.t2_us * 1e3, self.t2star_us * 1e3
        with np.errstate(divide="ignore", invalid="ignore"):
            var = np.where(t2s < t2, 2.0 * (1.0 - t2s / t2) / t2s**2, 0.0)
        return np.sqrt(np.nan_to_num(var, nan=0.0, posinf=0.0))

    def zz_rad_per_ns(self, a: int, b: int) -> float:
        """2 pi zeta of the coupler (a, b) in rad/ns: the phase per ns that H = 2 pi zeta |11><11|
        gives |11>; 0 for a pair without static ZZ."""
        return 2.0 * math.pi * self.zz_khz.get((min(a, b), max(a, b)), 0.0) * 1e-6

    def decoherence_ns(self) -> tuple[np.ndarray, np.ndarray]:
        """(T1, Tphi) per qubit in ns, the unit of every duration (ESP and the noise model)."""
        return self.t1_us * 1e3, self.tphi_us() * 1e3

    def median_errors(self) -> dict[str, float]:
        return {
            "one_qubit": float(np.median(self.one_qubit_error)),
            "two_qubit": self.median_two_qubit_error(),
            "readout": float(np.median(self.readout_error)),
        }

    # -- validation -------------------------------------------------------------------------
    def validate(self) -> None:
        where = f"target {self.name!r}"
        n = self.num_qubits
        if not isinstance(n, (int, np.integer)) or n < 1:
            raise InputError(f"{where}: field 'num_qubits' must be a positive integer, got {n!r}")
        for (a, b), e in self.couplers.items():
            for q in (a, b):
                if not 0 <= q < n:
                    raise InputError(f"{where}: field 'couplers' names qubit {q}, outside 0..{n - 1}")
            if a == b:
                raise InputError(f"{where}: field 'couplers' couples qubit {a} to itself")
            if not 0.0 <= e <= 1.0 or math.isnan(e):
                raise InputError(f"{where}: field 'couplers' error {e} for ({a}, {b}) is outside [0, 1]")
        for name in ("one_qubit_error", "readout_error"):
            arr = getattr(self, name)
            if arr.shape != (n,):
                raise InputError(f"{where}: field '{name}' has {arr.size} entries for {n} qubits")
            if np.isnan(arr).any() or (arr < 0).any() or (arr > 1).any():
                raise InputError(f"{where}: field '{name}' has values outside [0, 1]")
        for name in ("t1_us", "t2_us", "t2star_us"):
            arr = getattr(self, name)
            if arr.shape != (n,):
                raise InputError(f"{where}: field '{name}' has {arr.size} entries for {n} qubits")
            if np.isnan(arr).any() or (arr <= 0).any():
                raise InputError(f"{where}: field '{name}' must be positive")
        if self.one_qubit_native not in ONE_QUBIT_NATIVE_SETS:
            raise InputError(
                f"{where}: field 'native_gates.one_qubit' is {self.one_qubit_native!r}; known: "
                + ", ".join(ONE_QUBIT_NATIVE_SETS)
            )
        if self.two_qubit_gate not in ENTANGLERS:
            raise InputError(
                f"{where}: field 'native_gates.two_qubit' is {self.two_qubit_gate!r}; known: {', '.join(ENTANGLERS)}"
            )
        for key in ("one_qubit", "two_qubit", "measure"):
            v = self.durations_ns.get(key)
            if v is None or not v >= 0:
                raise InputError(f"{where}: field 'durations_ns.{key}' must be a non-negative number, got {v!r}")
        for q in self.disabled_qubits:
            if not 0 <= q < n:
                raise InputError(f"{where}: field 'disabled_qubits' names qubit {q}, outside 0..{n - 1}")
        usable = [q for q in range(n) if q not in self.disabled_qubits]
        if not usable:
            raise InputError(f"{where}: every qubit is disabled")
        if len(usable) > 1:
            if not self.couplers:
                raise InputError(f"{where}: field 'couplers' is empty: the coupling graph has no edges")
            g = nx.Graph([e for e in self.couplers if not set(e) & self.disabled_qubits])
            g.add_nodes_from(usable)
            if not nx.is_connected(g):
                parts = nx.number_connected_components(g)
                raise InputError(f"{where}: field 'couplers': the coupling graph is disconnected ({parts} parts)")
        for (a, b), v in self.zz_khz.items():
            if (a, b) not in self.couplers:
                raise InputError(f"{where}: field 'zz_khz' names ({a}, {b}), which is not a coupler")
            if not math.isfinite(v):
                raise InputError(f"{where}: field 'zz_khz' for ({a}, {b}) must be a finite number, got {v}")
        if self.rep_delay_us is not None and (
            isinstance(self.rep_delay_us, bool)
            or not isinstance(self.rep_delay_us, (int, float))
            or not math.isfinite(self.rep_delay_us)
            or self.rep_delay_us < 0
        ):
            raise InputError(f"{where}: field 'rep_delay_us' must be a non-negative number, got {self.rep_delay_us!r}")
        for pair in self.crosstalk:
            for edge in pair:
                if (min(edge), max(edge)) not in self.couplers:
                    raise InputError(f"{where}: field 'crosstalk' names {tuple(edge)}, which is not a coupler")


def ideal_target(n: int, name: str = "logical") -> Target:
    """The logical device: every pair coupled, every IR gate native, no noise, no time."""
    from itertools import combinations

    return Target(
        name=name,
        num_qubits=n,
        couplers={e: 0.0 for e in combinations(range(n), 2)},
        one_qubit_native="any",
        two_qubit_gate="cx",
        durations_ns={"one_qubit": 0.0, "two_qubit": 0.0, "measure": 0.0},
        one_qubit_error=np.zeros(n),
        readout_error=np.zeros(n),
        t1_us=np.full(n, np.inf),
        t2_us=np.full(n, np.inf),
        source="ideal all-to-all device",
        ideal=True,
    )


def noise_blind(target: Target) -> Target:
    """A copy with every error replaced by its median: what a compiler that ignores calibration sees."""
    from dataclasses import replace

    m = target.median_errors()
    return replace(
        target,
        couplers={e: m["two_qubit"] for e in target.couplers},
        one_qubit_error=np.full(target.num_qubits, m["one_qubit"]),
        readout_error=np.full(target.num_qubits, m["readout"]),
        t1_us=np.full(target.num_qubits, float(np.median(target.t1_us))),
        t2_us=np.full(target.num_qubits, float(np.median(target.t2_us))),
        t2star_us=np.full(target.num_qubits, float(np.median(target.t2star_us))),
    )
