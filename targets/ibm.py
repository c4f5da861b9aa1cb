"""IBM backend configuration + properties JSON (the format of qiskit-ibm-runtime's fake backends).

Works for any backend of that family: the native entangler is whichever of cz / ecr / cx the
configuration lists. Real property files are often incomplete (a qubit being recalibrated has no
T1, a coupler has no gate_error), so the rule is:

- a qubit without a usable T1, T2, readout_error or sx gate_error (missing, null or NaN) is
  *uncalibrated*: it stays in the numbering but is disabled, and so are its couplers;
- a coupler whose gate_error is missing is dropped; one whose gate_error is 1 is disabled by the
  provider and dropped silently;
- qubits then cut off from the largest connected part are disabled;
- one CalibrationWarning names every qubit and coupler left out for missing data.

A missing gate_length or readout_length falls back to the device median. Static ZZ comes from the
properties' ``general`` list (``zz_<a><b>``, the two indices written together, told apart by the
coupling map); an entry whose zz and jq are both 0 is a placeholder (IBM writes that for disabled
couplers on Eagle and for every coupler on Heron), and couplers without a measurement take the
median of the measured ones, or the family default (targets/idle_noise.py: CZ devices are
tunable-coupler Herons, ECR / CX devices fixed-coupler Eagles and Falcons). No IBM file has a
Ramsey T2*: T2 is IBM's Hahn-echo T2 and T2* the family's ratio to it. The repetition delay
(idle time between shots) is the configuration's ``default_rep_delay`` in µs, what IBM applies
when a job does not set ``rep_delay`` (250 µs on Heron and Eagle); a configuration without it
leaves the delay unknown (``Target.rep_delay_us`` None). Only a file that is
structurally broken (not JSON, missing top-level fields, wrong qubit count, non-numeric or
out-of-range values, qubits outside the device) is an InputError.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import networkx as nx
import numpy as np

from hqvit.ir.errors import CalibrationWarning, InputError
from hqvit.targets.idle_noise import idle_fields
from hqvit.targets.target import Target

_TIME_UNITS = {"s": 1e6, "ms": 1e3, "us": 1.0, "µs": 1.0, "ns": 1e-3}  # -> µs
_FREQUENCY_UNITS = {"GHz": 1e6, "MHz": 1e3, "kHz": 1.0, "Hz": 1e-3}  # -> kHz
_QUBIT_FIELDS = ("T1", "T2", "readout_error")


def read_json(path: Path, what: str = "") -> dict:
    """A JSON object from ``path``, or one InputError saying why not."""
    label = f"{what} {path}".strip()
    try:
        data = json.loads(path.read_text())
    except OSError as e:
        raise InputError(f"cannot read {label}: {e.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        reason = f"{e.msg} at line {e.lineno}" if isinstance(e, json.JSONDecodeError) else "not UTF-8 text"
        raise InputError(f"{label} is not valid JSON: {reason}") from None
    if not isinstance(data, dict):
        raise InputError(f"{label}: expected a JSON object")
    return data


def _field(obj: dict, key: str, where: str):
    if not isinstance(obj, dict):
        raise InputError(f"{where}: expected a JSON object")
    if key not in obj:
        raise InputError(f"{where}: missing field '{key}'")
    return obj[key]


def _params(entries, where: str) -> dict[str, tuple[float, str]]:
    """name -> (value, unit) for the entries that carry a value; null and NaN count as missing."""
    if not isinstance(entries, list):
        raise InputError(f"{where}: expected a list of parameters")
    out = {}
    for e in entries:
        if not isinstance(e, dict) or "name" not in e:
            raise InputError(f"{where}: entries need 'name' and 'value'")
        value = e.get("value")
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError(f"{where}: field '{e['name']}' is not a number: {value!r}")
        if not math.isnan(value):
            out[e["name"]] = (float(value), e.get("unit", ""))
    return out


def _us(value: tuple[float, str], where: str) -> float:
    v, unit = value
    if unit not in _TIME_UNITS:
        raise InputError(f"{where}: unknown time unit {unit!r}")
    return v * _TIME_UNITS[unit]


def _error_rate(p: dict, key: str, where: str) -> float | None:
    if key not in p:
        return None
    e = p[key][0]
    if not 0.0 <= e <= 1.0:
        raise InputError(f"{where}: field '{key}' = {e} is outside [0, 1]")
    return e


def _time(p: dict, key: str, where: str) -> float | None:
    if key not in p:
        return None
    t = _us(p[key], where)
    if not t > 0:
        raise InputError(f"{where}: field '{key}' must be positive, got {p[key][0]}")
    return t


def _median_fill(values: np.ndarray, missing: set[int], where: str, what: str) -> np.ndarray:
    known = [v for q, v in enumerate(values) if q not in missing]
    if not known:
        raise InputError(f"{where}: no qubit has a '{what}' entry")
    return np.where(np.isnan(values), float(np.median(known)), values)


def _pair_of(digits: str, pairs: set[tuple[int, int]]) -> tuple[int, int] | None:
    """The coupler whose two indices, written together, give ``digits`` ('6272' -> (62, 72));
    None when no split, or more than one, is a coupler."""
    found = {
        (min(a, b), max(a, b))
        for i in range(1, len(digits))
        if digits[i] != "0" or i == len(digits) - 1
        for a, b in [(int(digits[:i]), int(digits[i:]))]
        if (min(a, b), max(a, b)) in pairs
    }
    return found.pop() if len(found) == 1 else None


def _measured_zz(props: dict, pairs: set[tuple[int, int]], where: str) -> dict[tuple[int, int], float]:
    """Coupler -> static ZZ in kHz from ``general``'s ``zz_*`` entries; missing, null, NaN and
    placeholder (zz = jq = 0) entries are left out, a present but wrong one is an error."""
    general = props.get("general", [])
    if not isinstance(general, list):
        raise InputError(f"{where}: field 'general' must be a list")
    named = {e["name"]: (k, e) for k, e in enumerate(general) if isinstance(e, dict) and isinstance(e.get("name"), str)}
    out = {}
    for name, (k, e) in named.items():
        if not name.startswith("zz_") or not name[3:].isdigit():
            continue
        value = e.get("value")
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise InputError(f"{where}: general[{k}] '{name}' is not a number: {value!r}")
        unit = e.get("unit", "GHz")
        if unit not in _FREQUENCY_UNITS:
            raise InputError(f"{where}: general[{k}] '{name}' has unknown frequency unit {unit!r}")
        jq = named.get("jq_" + name[3:], (0, {}))[1].get("value")
        pair = _pair_of(name[3:], pairs)
        if pair is not None and not (value == 0 and not jq):
            out[pair] = float(value) * _FREQUENCY_UNITS[unit]
    return out


def _warn_incomplete(backend: str, missing: dict[int, list[str]], no_error: list[tuple[int, int]]) -> None:
    parts = []
    if missing:
        named = ", ".join(f"{q} (no {'/'.join(f)})" for q, f in sorted(missing.items()))
        parts.append(f"qubit{'s' if len(missing) > 1 else ''} {named} left out of placement")
    if no_error:
        parts.append(
            f"coupler{'s' if len(no_error) > 1 else ''} {', '.join(map(str, no_error))} dropped (no gate_error)"
        )
    warnings.warn(f"ibm:{backend}: incomplete calibration: {'; '.join(parts)}", CalibrationWarning, stacklevel=3)


def _rep_delay(conf: dict, conf_path: Path) -> tuple[float | None, str]:
    """``default_rep_delay`` (µs) and where it came from; (None, why) when the file has none."""
    value = conf.get("default_rep_delay")
    if value is None:
        return None, f"{conf_path.name} has no default_rep_delay"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise InputError(f"{conf_path}: field 'default_rep_delay' must be a non-negative number of µs, got {value!r}")
    return float(value), f"{conf_path.name} default_rep_delay"


def load_ibm(conf_path: str | Path, props_path: str | Path) -> Target:
    conf_path, props_path = Path(conf_path), Path(props_path)
    conf, props = read_json(conf_path), read_json(props_path)
    n = _field(conf, "n_qubits", str(conf_path))
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InputError(f"{conf_path}: field 'n_qubits' must be a positive integer")
    basis = _field(conf, "basis_gates", str(conf_path))
    entangler = next((g for g in ("cz", "ecr", "cx") if g in basis), None)
    if entangler is None:
        raise InputError(f"{conf_path}: field 'basis_gates' has no two-qubit gate this loader knows (cz, ecr, cx)")
    qubits = _field(props, "qubits", str(props_path))
    if not isinstance(qubits, list) or len(qubits) != n:
        count = len(qubits) if isinstance(qubits, list) else "no"
        raise InputError(f"{props_path}: field 'qubits' has {count} entries, configuration says {n}")
    t1, t2, ro, one_q = (np.full(n, np.nan) for _ in range(4))
    readout_ns: list[float] = []
    missing: dict[int, list[str]] = {}
    for q, entries in enumerate(qubits):
        where = f"{props_path}: qubits[{q}]"
        p = _params(entries, where)
        t1[q], t2[q] = (_time(p, key, where) or np.nan for key in ("T1", "T2"))
        ro[q] = _error_rate(p, "readout_error", where) if "readout_error" in p else np.nan
        if (length := _time(p, "readout_length", where)) is not None:
            readout_ns.append(length * 1e3)
        if absent := [f for f in _QUBIT_FIELDS if f not in p]:
            missing[q] = absent
    one_q_ns: list[float] = []
    pairs: set[tuple[int, int]] = set()  # every entangler pair, disabled or not: names zz entries
    couplers: dict[tuple[int, int], float] = {}
    durations: dict[tuple[int, int], float] = {}
    no_error: set[tuple[int, int]] = set()
    gates = _field(props, "gates", str(props_path))
    if not isinstance(gates, list):
        raise InputError(f"{props_path}: field 'gates' must be a list")
    for k, gate in enumerate(gates):
        where = f"{props_path}: gates[{k}]"
        name, gq = _field(gate, "gate", where), _field(gate, "qubits", where)
        if not isinstance(gq, list) or not all(isinstance(q, int) and 0 <= q < n for q in gq):
            raise InputError(f"{where}: field 'qubits' {gq} is outside 0..{n - 1}")
        if name not in ("sx", entangler):
            continue  # rz is virtual; reset, id, rzz ... are not used by the compiler
        p = _params(gate.get("parameters", []), where)
        err = _error_rate(p, "gate_error", where)
        length = _time(p, "gate_length", where)
        if name == "sx" and len(gq) == 1:
            if err is not None:
                one_q[gq[0]] = err
            if length is not None:
                one_q_ns.append(length * 1e3)
        elif name == entangler and len(gq) == 2 and gq[0] != gq[1]:
            edge = (min(gq), max(gq))
            pairs.add(edge)
            if err is None:
                no_error.add(edge)
            elif err < 1.0 and (edge not in couplers or err < couplers[edge]):  # 1 = disabled by IBM
                couplers[edge] = err
                if length is not None:
                    durations[edge] = length * 1e3
    for q in np.flatnonzero(np.isnan(one_q)):
        missing.setdefault(int(q), []).append("sx gate_error")
    no_error -= set(couplers)  # another entry for the same pair carried an error
    uncalibrated = set(missing)
    couplers = {e: err for e, err in couplers.items() if not set(e) & uncalibrated}
    if not couplers:
        raise InputError(f"{props_path}: no working '{entangler}' couplers")
    main = max(nx.connected_components(nx.Graph(list(couplers))), key=len)
    disabled = frozenset(q for q in range(n) if q not in main)
    backend = props.get("backend_name") or conf.get("backend_name") or conf_path.stem
    if missing or no_error:
        _warn_incomplete(backend, missing, sorted(no_error))
    where = str(props_path)
    rep_delay_us, rep_delay_source = _rep_delay(conf, conf_path)
    t1, t2 = _median_fill(t1, uncalibrated, where, "T1"), _median_fill(t2, uncalibrated, where, "T2")
    ro = _median_fill(ro, uncalibrated, where, "readout_error")
    one_q = _median_fill(one_q, uncalibrated, where, "sx gate_error")
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
        **idle_fields(
            "ibm-tunable-coupler" if entangler == "cz" else "ibm-fixed-coupler",
            couplers,
            t2,
            _measured_zz(props, pairs, where),
            f"{props_path.name} general.zz_*",
        ),
        coupler_duration_ns=durations,
        virtual_z=True,
        disabled_qubits=disabled,
        rep_delay_us=rep_delay_us,
        rep_delay_source=rep_delay_source,
        source=f"IBM {backend} calibration of {props.get('last_update_date', 'unknown date')} "
        f"({conf_path.name}, {props_path.name})",
    )
