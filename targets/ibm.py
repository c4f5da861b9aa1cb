"""IBM backend configuration + properties JSON (the format of qiskit-ibm-runtime's fake backends).

Works for any backend of that family: the native entangler is whichever of cz / ecr / cx the
configuration lists; couplers whose gate_error is 1 (disabled) are dropped, and qubits that are
then cut off from the largest connected part are kept in the numbering but disabled.
"""

from __future__ import annotations

import json
from pathlib import Path

import networkx as nx
import numpy as np

from compiler.errors import InputError

from .target import Target

_TIME_UNITS = {"s": 1e6, "ms": 1e3, "us": 1.0, "µs": 1.0, "ns": 1e-3}  # -> µs


def read_json(path: Path, what: str = "") -> dict:
    """A JSON object from ``path``, or one InputError saying why not."""
    label = f"{what} {path}".strip()
    try:
        data = json.loads(path.read_text())
    except OSError as e:
        raise InputError(f"cannot read {label}: {e.strerror}") from None
    except json.JSONDecodeError as e:
        raise InputError(f"{label} is not valid JSON: {e.msg} at line {e.lineno}") from None
    if not isinstance(data, dict):
        raise InputError(f"{label}: expected a JSON object")
    return data


def _field(obj: dict, key: str, where: str):
    if key not in obj:
        raise InputError(f"{where}: missing field '{key}'")
    return obj[key]


def _params(entries: list, where: str) -> dict[str, tuple[float, str]]:
    out = {}
    for e in entries:
        if not isinstance(e, dict) or "name" not in e or "value" not in e:
            raise InputError(f"{where}: entries need 'name' and 'value'")
        try:
            out[e["name"]] = (float(e["value"]), e.get("unit", ""))
        except (TypeError, ValueError):
            raise InputError(f"{where}: field '{e['name']}' is not a number: {e['value']!r}") from None
    return out


def _us(value: tuple[float, str], where: str) -> float:
    v, unit = value
    if unit not in _TIME_UNITS:
        raise InputError(f"{where}: unknown time unit {unit!r}")
    return v * _TIME_UNITS[unit]


def load_ibm(conf_path: str | Path, props_path: str | Path) -> Target:
    conf_path, props_path = Path(conf_path), Path(props_path)
    conf, props = read_json(conf_path), read_json(props_path)
    n = _field(conf, "n_qubits", str(conf_path))
    if not isinstance(n, int) or n < 1:
        raise InputError(f"{conf_path}: field 'n_qubits' must be a positive integer")
    basis = _field(conf, "basis_gates", str(conf_path))
    entangler = next((g for g in ("cz", "ecr", "cx") if g in basis), None)
    if entangler is None:
        raise InputError(f"{conf_path}: field 'basis_gates' has no two-qubit gate this loader knows (cz, ecr, cx)")
    qubits = _field(props, "qubits", str(props_path))
    if len(qubits) != n:
        raise InputError(f"{props_path}: field 'qubits' has {len(qubits)} entries, configuration says {n}")
    t1, t2, ro, readout_ns = np.zeros(n), np.zeros(n), np.zeros(n), []
    for q, entries in enumerate(qubits):
        where = f"{props_path}: qubits[{q}]"
        p = _params(entries, where)
        t1[q] = _us(_field(p, "T1", where), where)
        t2[q] = _us(_field(p, "T2", where), where)
        ro[q] = _field(p, "readout_error", where)[0]
        if "readout_length" in p:
            readout_ns.append(_us(p["readout_length"], where) * 1e3)
    one_q = np.full(n, np.nan)
    one_q_ns, couplers, durations = [], {}, {}
    for k, gate in enumerate(_field(props, "gates", str(props_path))):
        where = f"{props_path}: gates[{k}]"
        name, gq = _field(gate, "gate", where), _field(gate, "qubits", where)
        if not all(isinstance(q, int) and 0 <= q < n for q in gq):
            raise InputError(f"{where}: field 'qubits' {gq} is outside 0..{n - 1}")
        if name not in ("sx", entangler):
            continue  # rz is virtual; reset, id, rzz ... are not used by the compiler
        p = _params(_field(gate, "parameters", where), where)
        err = _field(p, "gate_error", where)[0]
        if name == "sx" and len(gq) == 1:
            one_q[gq[0]] = err
            if "gate_length" in p:
                one_q_ns.append(_us(p["gate_length"], where) * 1e3)
        elif name == entangler and len(gq) == 2:
            if err >= 1.0:  # disabled coupler
                continue
            edge = (min(gq), max(gq))
            if edge not in couplers or err < couplers[edge]:
                couplers[edge] = err
                if "gate_length" in p:
                    durations[edge] = _us(p["gate_length"], where) * 1e3
    if np.isnan(one_q).any():
        raise InputError(f"{props_path}: no 'sx' gate_error for qubit {int(np.flatnonzero(np.isnan(one_q))[0])}")
    if not couplers:
        raise InputError(f"{props_path}: no working '{entangler}' couplers")
    g = nx.Graph(list(couplers))
    main = max(nx.connected_components(g), key=len)
    disabled = frozenset(q for q in range(n) if q not in main)
    backend = props.get("backend_name") or conf.get("backend_name") or conf_path.stem
    return Target(
        name=f"ibm:{backend}",
        num_qubits=n,
        couplers=couplers,
        one_qubit_native="ibm",
        two_qubit_gate=entangler,
        durations_ns={
            "one_qubit": float(np.median(one_q_ns)) if one_q_ns else 36.0,
            "two_qubit": float(np.median(list(durations.values()))) if durations else 300.0,
            "measure": float(np.median(readout_ns)) if readout_ns else 1000.0,
        },
        one_qubit_error=one_q,
        readout_error=ro,
        t1_us=t1,
        t2_us=t2,
        coupler_duration_ns=durations,
        virtual_z=True,
        disabled_qubits=disabled,
        source=f"IBM {backend} calibration of {props.get('last_update_date', 'unknown date')} "
        f"({conf_path.name}, {props_path.name})",
    )
