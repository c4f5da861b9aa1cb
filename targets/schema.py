"""The project's own target file format (``file:PATH.json``), written by ``hqvit targets export``.

    {
      "format": "hqvit-target", "version": 1,
      "name": "my-device", "num_qubits": 3, "source": "where the numbers come from",
      "native_gates": {"one_qubit": "any" | "ibm", "two_qubit": "cx" | "cz" | "ecr" | "sqrt_iswap" | "ms" | "zz"},
      "durations_ns": {"one_qubit": 35, "two_qubit": 300, "measure": 1000},
      "virtual_z": false,
      "qubits": [{"t1_us": 150, "t2_us": 100, "readout_error": 0.01, "one_qubit_error": 0.0003,
                  "t2star_us": 60, "label": "optional name"}, ...],   # one entry per qubit, in order
      "couplers": [{"qubits": [0, 1], "error": 0.005, "duration_ns": 300, "zz_khz": -60}, ...],
      "crosstalk": [[[0, 1], [1, 2]], ...],                   # optional: couplers that disturb each other
      "disabled_qubits": [],                                  # optional
      "idle_noise_source": {"zz": "...", "t2star": "..."},    # optional: where those two come from
      "rep_delay_us": 250, "rep_delay_source": "..."          # optional: idle time between shots
    }

``rep_delay_us`` (the wait between shots, for device-time estimates) may be absent or null:
the delay is then unknown and those estimates say so.

``t2star_us`` (Ramsey T2*, next to the echo ``t2_us``) and ``zz_khz`` (static ZZ, signed; see
targets/idle_noise.py) are optional and never disable anything: a file without any T2* has
T2* = T2, a qubit without one takes T2 times the median T2*/T2 of those that have one; a file
without any ZZ has none, a coupler without one takes the median of the given values.

Every problem is reported once, naming the field (``qubits[2].t1_us``, ``couplers[5].qubits``).

Incomplete calibrations follow the same rule as the IBM loader: a qubit whose ``t1_us``, ``t2_us``,
``readout_error`` or ``one_qubit_error`` is missing or null is uncalibrated, so it is disabled
(with its couplers) and its missing numbers are filled with the device median; a coupler whose
``error`` is missing or null is dropped; one CalibrationWarning names them. A value that is
present but wrong (a string, negative, an error above 1) is an error, not a gap.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np

from hqvit.ir.errors import CalibrationWarning, InputError
from hqvit.targets.ibm import read_json
from hqvit.targets.target import ENTANGLERS, ONE_QUBIT_NATIVE_SETS, Target

FORMAT, VERSION = "hqvit-target", 1
_TOP = {
    "format",
    "version",
    "name",
    "num_qubits",
    "source",
    "native_gates",
    "durations_ns",
    "virtual_z",
    "qubits",
    "couplers",
    "crosstalk",
    "disabled_qubits",
    "idle_noise_source",
    "rep_delay_us",
    "rep_delay_source",
}


# per-qubit calibration numbers: None = positive, else the (lo, hi) range
_QUBIT_NUMBERS: dict[str, tuple[float, float] | None] = {
    "t1_us": None,
    "t2_us": None,
    "readout_error": (0.0, 1.0),
    "one_qubit_error": (0.0, 1.0),
}


def target_to_dict(t: Target) -> dict:
    return {
        "format": FORMAT,
        "version": VERSION,
        "name": t.name,
        "num_qubits": t.num_qubits,
        "source": t.source,
        "native_gates": {"one_qubit": t.one_qubit_native, "two_qubit": t.two_qubit_gate},
        "durations_ns": dict(t.durations_ns),
        "virtual_z": t.virtual_z,
        "qubits": [
            {
                "t1_us": float(t.t1_us[q]),
                "t2_us": float(t.t2_us[q]),
                "readout_error": float(t.readout_error[q]),
                "one_qubit_error": float(t.one_qubit_error[q]),
                "t2star_us": float(t.t2star_us[q]),
            }
            | ({"label": t.qubit_labels[q]} if t.qubit_labels else {})
            for q in range(t.num_qubits)
        ],
        "couplers": [
            {"qubits": list(e), "error": err}
            | ({"duration_ns": t.coupler_duration_ns[e]} if e in t.coupler_duration_ns else {})
            | ({"zz_khz": t.zz_khz[e]} if e in t.zz_khz else {})
            for e, err in sorted(t.couplers.items())
        ],
        "crosstalk": [[list(a), list(b)] for a, b in t.crosstalk],
        "disabled_qubits": sorted(t.disabled_qubits),
        "idle_noise_source": dict(t.idle_noise_source),
        "rep_delay_us": t.rep_delay_us,
        "rep_delay_source": t.rep_delay_source,
    }


def _need(obj: dict, key: str, path: str):
    if not isinstance(obj, dict):
        raise InputError(f"field '{path}' must be an object")
    if key not in obj:
        raise InputError(f"missing field '{path + '.' if path else ''}{key}'")
    return obj[key]


def _number(value, path: str, lo: float | None = None, hi: float | None = None, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise InputError(f"field '{path}' must be a number, got {value!r}")
    if positive and not value > 0:
        raise InputError(f"field '{path}' must be positive, got {value}")
    if lo is not None and not lo <= value <= hi:
        raise InputError(f"field '{path}' = {value} is outside [{lo}, {hi}]")
    return float(value)


def _qubit(value, path: str, n: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"field '{path}' must be a qubit index, got {value!r}")
    if not 0 <= value < n:
        raise InputError(f"field '{path}' = {value} is outside 0..{n - 1}")
    return value


def _pair(value, path: str, n: int) -> tuple[int, int]:
    if not isinstance(value, list) or len(value) != 2:
        raise InputError(f"field '{path}' must be a pair of qubit indices, got {value!r}")
    a, b = _qubit(value[0], f"{path}[0]", n), _qubit(value[1], f"{path}[1]", n)
    if a == b:
        raise InputError(f"field '{path}' couples qubit {a} to itself")
    return (min(a, b), max(a, b))


def target_from_dict(d: dict) -> Target:
    if not isinstance(d, dict):
        raise InputError("a target file must hold one JSON object")
    unknown = sorted(set(d) - _TOP)
    if unknown:
        raise InputError(f"unknown field '{unknown[0]}' (known: {', '.join(sorted(_TOP))})")
    if d.get("format", FORMAT) != FORMAT or d.get("version", VERSION) != VERSION:
        raise InputError(f"field 'format'/'version' must be {FORMAT!r} / {VERSION}")
    name = _need(d, "name", "")
    n = _need(d, "num_qubits", "")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InputError(f"field 'num_qubits' must be a positive integer, got {n!r}")
    gates = _need(d, "native_gates", "")
    one, two = _need(gates, "one_qubit", "native_gates"), _need(gates, "two_qubit", "native_gates")
    if one not in ONE_QUBIT_NATIVE_SETS:
        raise InputError(
            f"field 'native_gates.one_qubit': unknown gate set {one!r} (known: {', '.join(ONE_QUBIT_NATIVE_SETS)})"
        )
    if two not in ENTANGLERS:
        raise InputError(f"field 'native_gates.two_qubit': unknown gate {two!r} (known: {', '.join(ENTANGLERS)})")
    dur = _need(d, "durations_ns", "")
    durations = {
        k: _number(_need(dur, k, "durations_ns"), f"durations_ns.{k}", 0, math.inf)
        for k in ("one_qubit", "two_qubit", "measure")
    }
    qubits = _need(d, "qubits", "")
    if not isinstance(qubits, list) or len(qubits) != n:
        raise InputError(
            f"field 'qubits' must list {n} qubits, got {len(qubits) if isinstance(qubits, list) else qubits!r}"
        )
    cols: dict[str, list[float]] = {key: [] for key in _QUBIT_NUMBERS}
    labels, missing, ramsey = [], {}, []
    for q, entry in enumerate(qubits):
        if not isinstance(entry, dict):
            raise InputError(f"field 'qubits[{q}]' must be an object")
        for key, bounds in _QUBIT_NUMBERS.items():
            if entry.get(key) is None:
                missing.setdefault(q, []).append(key)
                cols[key].append(math.nan)
            elif bounds is None:
                cols[key].append(_number(entry[key], f"qubits[{q}].{key}", positive=True))
            else:
                cols[key].append(_number(entry[key], f"qubits[{q}].{key}", *bounds))
        labels.append(entry.get("label"))
        ramsey.append(
            math.nan
            if entry.get("t2star_us") is None
            else _number(entry["t2star_us"], f"qubits[{q}].t2star_us", positive=True)
        )
    for key, values in cols.items():
        known = [v for v in values if not math.isnan(v)]
        if not known:
            raise InputError(f"field 'qubits[*].{key}': no qubit has a value")
        cols[key] = list(np.where(np.isnan(values), float(np.median(known)), values))
    t2 = np.asarray(cols["t2_us"])
    ratios = [r / t for r, t in zip(ramsey, t2, strict=True) if not math.isnan(r)]
    t2star = np.where(np.isnan(ramsey), t2 * (float(np.median(ratios)) if ratios else 1.0), ramsey)
    couplers, durs, zz, no_error, dropped = {}, {}, {}, [], set()
    raw = _need(d, "couplers", "")
    if not isinstance(raw, list):
        raise InputError("field 'couplers' must be a list")
    for k, c in enumerate(raw):
        edge = _pair(_need(c, "qubits", f"couplers[{k}]"), f"couplers[{k}].qubits", n)
        if c.get("error") is None:
            no_error.append(edge)
            dropped.add(edge)
            continue
        if set(edge) & set(missing):
            dropped.add(edge)
            continue
        couplers[edge] = _number(c["error"], f"couplers[{k}].error", 0.0, 1.0)
        if "duration_ns" in c:
            durs[edge] = _number(c["duration_ns"], f"couplers[{k}].duration_ns", 0, math.inf)
        if c.get("zz_khz") is not None:
            zz[edge] = _number(c["zz_khz"], f"couplers[{k}].zz_khz")
            if not math.isfinite(zz[edge]):
                raise InputError(f"field 'couplers[{k}].zz_khz' must be finite, got {zz[edge]}")
    crosstalk = []
    for k, pair in enumerate(d.get("crosstalk", [])):
        if not isinstance(pair, list) or len(pair) != 2:
            raise InputError(f"field 'crosstalk[{k}]' must be a pair of couplers")
        a, b = _pair(pair[0], f"crosstalk[{k}][0]", n), _pair(pair[1], f"crosstalk[{k}][1]", n)
        if not {a, b} & dropped:
            crosstalk.append((a, b))
    disabled = frozenset(_qubit(q, f"disabled_qubits[{k}]", n) for k, q in enumerate(d.get("disabled_qubits", [])))
    fill = float(np.median(list(zz.values()))) if zz else None
    zz = {e: zz.get(e, fill) for e in couplers} if zz else {}
    sources = d.get("idle_noise_source") or {
        "zz": "target file: couplers[*].zz_khz" if zz else "target file: no zz_khz, no static ZZ",
        "t2star": "target file: qubits[*].t2star_us" if ratios else "target file: no t2star_us, T2* = T2",
    }
    if not isinstance(sources, dict) or not all(isinstance(v, str) for v in sources.values()):
        raise InputError("field 'idle_noise_source' must map names to strings")
    rep_delay = d.get("rep_delay_us")
    if rep_delay is not None:
        rep_delay = _number(rep_delay, "rep_delay_us", 0, math.inf)
    rep_source = d.get("rep_delay_source", "target file: rep_delay_us" if rep_delay is not None else "")
    if not isinstance(rep_source, str):
        raise InputError(f"field 'rep_delay_source' must be a string, got {rep_source!r}")
    if missing or no_error:
        gaps = [f"qubit {q} (no {'/'.join(keys)}) left out of placement" for q, keys in sorted(missing.items())]
        gaps += [f"coupler {e} dropped (no error)" for e in no_error]
        warnings.warn(f"target {name}: incomplete calibration: {'; '.join(gaps)}", CalibrationWarning, stacklevel=3)
        disabled |= frozenset(missing)
    return Target(
        name=str(name),
        num_qubits=n,
        couplers=couplers,
        one_qubit_native=one,
        two_qubit_gate=two,
        durations_ns=durations,
        one_qubit_error=cols["one_qubit_error"],
        readout_error=cols["readout_error"],
        t1_us=cols["t1_us"],
        t2_us=cols["t2_us"],
        t2star_us=t2star,
        zz_khz=zz,
        idle_noise_source=dict(sources),
        coupler_duration_ns=durs,
        crosstalk=crosstalk,
        virtual_z=bool(d.get("virtual_z", False)),
        source=str(d.get("source", "")),
        qubit_labels=labels if all(isinstance(x, str) for x in labels) else None,
        disabled_qubits=disabled,
        rep_delay_us=rep_delay,
        rep_delay_source=rep_source,
    )


def load_target_file(path: str | Path) -> Target:
    p = Path(path)
    data = read_json(p, "target file")
    try:
        return target_from_dict(data)
    except InputError as e:
        raise InputError(f"target file {p}: {e}") from None


def save_target_file(target: Target, path: str | Path) -> None:
    p = Path(path)
    try:
        p.write_text(json.dumps(target_to_dict(target), indent=1) + "\n")
    except OSError as e:
        raise InputError(f"cannot write {p}: {e.strerror}") from None
