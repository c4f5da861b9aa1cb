"""Resolve a target name given on the command line to a ``Target``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hqvit.ir.errors import InputError
from hqvit.targets.generic import KINDS, generic_target
from hqvit.targets.google import GOOGLE, google_target
from hqvit.targets.ibm import load_ibm
from hqvit.targets.idle_noise import IDLE_KEYS, apply_idle_overrides, parse_idle_overrides
from hqvit.targets.ions import ionq_aria, quantinuum_h2
from hqvit.targets.schema import load_target_file
from hqvit.targets.target import Target

IONS = {"ionq-aria": ionq_aria, "quantinuum-h2": quantinuum_h2}
CALIBRATIONS = Path(__file__).parent / "calibrations"
IBM_SNAPSHOTS = {"ibm-torino": "torino", "ibm-sherbrooke": "sherbrooke"}

CATALOGUE = [
    ("line:N", "N qubits in a line, default noise profile (override with @p2=...,t1=...)"),
    ("ring:N", "N qubits in a ring, default noise profile"),
    ("grid:RxC", "R x C square grid, default noise profile"),
    ("heavy-hex:D", "IBM-style heavy-hex lattice of odd distance D, default noise profile"),
    ("all-to-all:N", "N fully connected qubits, default noise profile"),
    ("sycamore23", "Google Sycamore 'rainbow' calibration (needs the google extra)"),
    ("sycamore54", "Google Sycamore 'weber' calibration, 53 working qubits (needs the google extra)"),
    ("willow105", "Google Willow 'willow_pink' calibration (needs the google extra)"),
    ("ionq-aria", "IonQ Aria, 25 ions, published averages"),
    ("quantinuum-h2", "Quantinuum H2, 56 ions, published averages"),
    ("ibm-torino", "IBM Heron r1 'torino' calibration snapshot, 133 qubits, CZ"),
    ("ibm-sherbrooke", "IBM Eagle r3 'sherbrooke' calibration snapshot, 127 qubits, ECR"),
    ("ibm:CONF.json,PROPS.json", "an IBM backend configuration + properties pair"),
    ("file:PATH.json", "a target in this project's JSON format (see hqvit targets export)"),
]


def split_overrides(name: str) -> tuple[str, list[tuple[str, str]]]:
    """``NAME@key=value,...`` -> (NAME, [(key, value)]). The last ``@`` starts the overrides
    unless what follows it holds a ``/`` (then it is part of a file path)."""
    base, sep, text = name.rpartition("@")
    if not sep or "/" in text:
        return name, []
    items = []
    for item in filter(None, text.split(",")):
        key, eq, value = item.partition("=")
        if not eq:
            raise InputError(f"target override {item!r} needs the form key=value")
        items.append((key.strip(), value.strip()))
    return base, items


def split_target_list(text: str) -> list[str]:
    """A comma-separated list of target names, where a name's own ``@key=value,...`` overrides
    also use commas: a piece holding ``=`` but no ``@`` continues the overrides of the name
    before it when that name has some (``ibm-torino@zz=0,t2star_ratio=1,willow105`` is two)."""
    out: list[str] = []
    for piece in (p.strip() for p in text.split(",")):
        if not piece:
            continue
        if out and "=" in piece and "@" not in piece and "@" in out[-1]:
            out[-1] += "," + piece
        else:
            out.append(piece)
    return out


def resolve_target(name: str) -> Target:
    """The target ``name`` names, with its ``@key=value`` overrides applied: the generic profile
    keys (generic topologies only) and the idle-noise keys ``zz``, ``t2star``, ``t2star_ratio``
    (every target)."""
    base, items = split_overrides(name)
    idle = parse_idle_overrides([(k, v) for k, v in items if k in IDLE_KEYS])
    profile = [f"{k}={v}" for k, v in items if k not in IDLE_KEYS]
    if base.partition(":")[0] in KINDS:
        target = generic_target(base + ("@" + ",".join(profile) if profile else ""))
    elif profile:
        key = profile[0].partition("=")[0]
        raise InputError(
            f"target override {key!r} applies to generic topologies only; {base} takes {', '.join(IDLE_KEYS)}"
        )
    else:
        target = _named_target(base)
    return apply_idle_overrides(target, idle, name)


def _named_target(name: str) -> Target:
    if name.startswith("ibm:"):
        paths = name[4:].split(",")
        if len(paths) != 2:
            raise InputError("ibm targets are named ibm:CONF.json,PROPS.json")
        return load_ibm(*paths)
    if name.startswith("file:"):
        return load_target_file(name[5:])
    if name in IBM_SNAPSHOTS:
        b = IBM_SNAPSHOTS[name]
        return load_ibm(CALIBRATIONS / f"conf_{b}.json", CALIBRATIONS / f"props_{b}.json")
    if name in GOOGLE:
        return google_target(name)
    if name in IONS:
        return IONS[name]()
    raise InputError(f"unknown target {name!r}; see 'hqvit targets list'")


def describe(t: Target) -> dict:
    """The JSON of ``hqvit targets show``; edges are pairs of indices in the target's numbering."""
    return {
        "name": t.name,
        "num_qubits": t.num_qubits,
        "usable_qubits": len(t.usable_qubits),
        "disabled_qubits": sorted(t.disabled_qubits),
        "edges": [list(e) for e in t.edges],
        "native_gates": list(t.native_gates),
        "median_errors": t.median_errors(),
        "t1_us": {"median": float(np.median(t.t1_us)), "min": float(t.t1_us.min())},
        "t2_us": {"median": float(np.median(t.t2_us)), "min": float(t.t2_us.min())},
        "t2star_us": {"median": float(np.median(t.t2star_us)), "min": float(t.t2star_us.min())},
        "zz_khz": {
            "couplers": len(t.zz_khz),
            "median_abs": float(np.median(np.abs(list(t.zz_khz.values())))) if t.zz_khz else 0.0,
            "max_abs": max((abs(v) for v in t.zz_khz.values()), default=0.0),
        },
        "idle_noise_source": dict(t.idle_noise_source),
        "durations_ns": dict(t.durations_ns),
        "virtual_z": t.virtual_z,
        "rep_delay_us": t.rep_delay_us,
        "rep_delay_source": t.rep_delay_source,
        "crosstalk": [[list(a), list(b)] for a, b in t.crosstalk],
        "source": t.source,
    }
