"""Generic topologies with a documented default noise profile.

Names: ``line:N``, ``ring:N``, ``grid:RxC``, ``heavy-hex:D`` (IBM's heavy-hex lattice of odd code
distance D, as rustworkx/Qiskit generate it: (5D^2 - 2D - 1)/2 qubits), ``all-to-all:N``.
Append ``@key=value,...`` to override the profile, e.g. ``grid:3x3@p2=0.01,t1=80``.

Default profile (typical of 2024 superconducting devices; uniform over qubits and couplers):

| key | meaning | default |
|---|---|---|
| p1 | single-qubit gate error | 2.5e-4 |
| p2 | two-qubit gate error | 5e-3 |
| ro | readout error | 1.5e-2 |
| t1, t2 | T1, T2 in µs | 150, 100 |
| d1, d2, dm | durations in ns: 1q gate, 2q gate, measurement | 35, 300, 1000 |
| gate | native entangler (cx, cz, ecr, sqrt_iswap, ms, zz) | cx |

The idle-noise keys of every target (``zz``, ``t2star``, ``t2star_ratio``; targets/idle_noise.py)
apply here too; by default a generic device has no static ZZ and T2* = T2.
"""

from __future__ import annotations

from itertools import combinations

import networkx as nx
import rustworkx as rx

from hqvit.ir.errors import InputError
from hqvit.targets.idle_noise import IDLE_KEYS, idle_fields
from hqvit.targets.target import ENTANGLERS, Target

DEFAULT_PROFILE = {
    "p1": 2.5e-4,
    "p2": 5e-3,
    "ro": 1.5e-2,
    "t1": 150.0,
    "t2": 100.0,
    "d1": 35.0,
    "d2": 300.0,
    "dm": 1000.0,
    "gate": "cx",
}
KINDS = ("line", "ring", "grid", "heavy-hex", "all-to-all")


def _int(text: str, what: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise InputError(f"{what} must be an integer, got {text!r}") from None
    if v < 1:
        raise InputError(f"{what} must be positive, got {v}")
    return v


def _edges(kind: str, arg: str) -> tuple[int, list[tuple[int, int]]]:
    if kind == "line":
        n = _int(arg, "line:N")
        return n, [(i, i + 1) for i in range(n - 1)]
    if kind == "ring":
        n = _int(arg, "ring:N")
        if n < 3:
            raise InputError("ring:N needs N >= 3")
        return n, [(i, (i + 1) % n) for i in range(n)]
    if kind == "grid":
        r, _, c = arg.lower().partition("x")
        rows, cols = _int(r, "grid rows"), _int(c or r, "grid columns")
        g = nx.convert_node_labels_to_integers(nx.grid_2d_graph(rows, cols), ordering="sorted")
        return rows * cols, sorted(g.edges())
    if kind == "heavy-hex":
        d = _int(arg, "heavy-hex:D")
        if d % 2 == 0:
            raise InputError(f"heavy-hex:D needs an odd distance D, got {d}")
        g = rx.generators.heavy_hex_graph(d)
        return g.num_nodes(), sorted((min(a, b), max(a, b)) for a, b in g.edge_list())
    if kind == "all-to-all":
        n = _int(arg, "all-to-all:N")
        return n, list(combinations(range(n), 2))
    raise InputError(f"unknown topology {kind!r}")


def parse_profile(text: str) -> dict:
    profile = dict(DEFAULT_PROFILE)
    if not text:
        return profile
    for item in text.split(","):
        key, _, value = item.partition("=")
        key = key.strip()
        if key not in profile:
            known = ", ".join([*DEFAULT_PROFILE, *IDLE_KEYS])
            raise InputError(f"unknown noise-profile key {key!r}; known: {known}")
        if key == "gate":
            if value not in ENTANGLERS:
                raise InputError(f"gate={value!r}: native entangler must be one of {', '.join(ENTANGLERS)}")
            profile[key] = value
            continue
        try:
            profile[key] = float(value)
        except ValueError:
            raise InputError(f"noise-profile value {key}={value!r} is not a number") from None
    return profile


def generic_target(name: str) -> Target:
    base, _, overrides = name.partition("@")
    kind, _, arg = base.partition(":")
    if kind not in KINDS:
        raise InputError(f"unknown topology {kind!r}; known: {', '.join(KINDS)}")
    if not arg:
        raise InputError(f"{kind} needs a size, e.g. {kind}:{'3x3' if kind == 'grid' else '5'}")
    p = parse_profile(overrides)
    n, edges = _edges(kind, arg)
    return Target(
        name=name,
        num_qubits=n,
        couplers={e: p["p2"] for e in edges},
        one_qubit_native="any",
        two_qubit_gate=p["gate"],
        durations_ns={"one_qubit": p["d1"], "two_qubit": p["d2"], "measure": p["dm"]},
        one_qubit_error=[p["p1"]] * n,
        readout_error=[p["ro"]] * n,
        t1_us=[p["t1"]] * n,
        t2_us=[p["t2"]] * n,
        **idle_fields("generic", edges, [p["t2"]] * n),
        source=f"generic {kind} topology, default noise profile" + (f" with {overrides}" if overrides else ""),
    )
