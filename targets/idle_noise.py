"""Coherent idle noise of a device: static ZZ between coupled qubits and quasi-static dephasing.

What the Target's ``zz_khz`` and ``t2star_us`` mean (the dynamical-decoupling estimate and the
trajectory simulator must read them the same way):

- **static ZZ**: on every coupler (a, b), always on, H = 2 pi zeta |11><11| with zeta =
  ``zz_khz[(a, b)]`` (signed, kHz): a qubit's frequency moves by zeta while its neighbour is in
  |1>. This is IBM's convention (qubit frequencies are calibrated with the neighbours in |0>, and
  ``zz_*`` in the properties' ``general`` list is that shift), so a neighbour still in |0>
  causes nothing. ``Target.zz_rad_per_ns`` gives 2 pi zeta per ns.
- **quasi-static dephasing**: each qubit has a detuning delta ~ N(0, sigma^2), drawn once per
  shot (per trajectory) and constant over it, H = delta Z / 2. ``t2_us`` is the echo (Hahn) T2,
  ``t2star_us`` the Ramsey T2*; sigma is what makes the Ramsey envelope
  exp(-t/T2 - sigma^2 t^2 / 2) reach 1/e at T2* (``Target.quasi_static_sigma``). An echo
  refocuses delta exactly, so a Hahn echo decays as exp(-t/T2) and T2 keeps its meaning in the
  Markovian model (T1, Tphi) the noise model already has.

Where a calibration has these numbers they are used; elsewhere each target family has a default,
written in ``FAMILIES`` with its source or assumption (docs/noise/idle-noise.md has the table).
Any target takes ``@zz=KHZ`` (every coupler), ``@t2star=US`` (every qubit) or
``@t2star_ratio=R`` (T2* = R T2 per qubit, 0 < R <= 1), e.g. ``ibm-sherbrooke@zz=0``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from hqvit.ir.errors import InputError
from hqvit.targets.target import Target

IDLE_KEYS = ("zz", "t2star", "t2star_ratio")


@dataclass(frozen=True)
class FamilyDefaults:
    zz_khz: float  # every coupler without a measured value
    t2star_ratio: float  # T2* / T2 where the calibration gives one T2 only
    zz_source: str
    t2star_source: str


_SC_RATIO = (
    "T2* = 0.6 x T2: assumption (the calibration gives one T2 only); Ramsey T2* of transmons is "
    "typically half to most of their echo T2, lowered by 1/f flux and charge noise an echo removes"
)
FAMILIES: dict[str, FamilyDefaults] = {
    # Eagle / Falcon: fixed-frequency transmons on fixed capacitive couplers, ECR or CX
    "ibm-fixed-coupler": FamilyDefaults(
        60.0,
        0.6,
        "60 kHz: the median |zz_*| of the ibm-sherbrooke (Eagle r3) snapshot is 59 kHz; fixed "
        "couplers leave tens of kHz of always-on ZZ",
        _SC_RATIO,
    ),
    # Heron: tunable couplers parked where the qubit-qubit interaction cancels
    "ibm-tunable-coupler": FamilyDefaults(
        1.0,
        0.6,
        "1 kHz: assumption; a tunable coupler is parked at its zero-coupling point, leaving a "
        "residual ZZ orders of magnitude below fixed couplers (the snapshot's zz_* are all 0 with "
        "jq 0: placeholders, not measurements)",
        _SC_RATIO,
    ),
    "google": FamilyDefaults(
        1.0,
        0.6,
        "1 kHz: assumption; Sycamore and Willow idle with tunable couplers at zero coupling, and "
        "cirq-google's calibrations carry no idle ZZ figure",
        "T2* = 0.6 x T2: assumption; T2 here comes from the single-qubit RB incoherent error "
        "(gate sequences refocus slow noise like an echo), and no Ramsey figure is published",
    ),
    "ions": FamilyDefaults(
        0.0,
        1.0,
        "0: ions have no always-on qubit-qubit coupling (the spin-spin interaction exists only "
        "while an MS / ZZ gate drives it)",
        "T2* = T2: the published figure is one coherence time; no split into echo and Ramsey",
    ),
    "generic": FamilyDefaults(
        0.0,
        1.0,
        "0: the generic profile models no coherent idle error unless asked (@zz=KHZ)",
        "T2* = T2 unless asked (@t2star=US or @t2star_ratio=R)",
    ),
}


def idle_fields(
    family: str,
    couplers: dict[tuple[int, int], float] | list[tuple[int, int]],
    t2_us: np.ndarray | list[float],
    measured_zz: dict[tuple[int, int], float] | None = None,
    zz_from: str = "",
) -> dict:
    """The Target keyword arguments ``zz_khz``, ``t2star_us``, ``idle_noise_source`` for a device
    of ``family``: measured ZZ where ``measured_zz`` has it, the median of the measured values on
    the remaining couplers, the family default when nothing was measured."""
    d = FAMILIES[family]
    wanted = set(couplers)
    measured = {e: v for e, v in (measured_zz or {}).items() if e in wanted}
    if measured:
        fill = float(np.median(list(measured.values())))
        gaps = len(couplers) - len(measured)
        zz_source = f"{zz_from}: measured on {len(measured)} couplers" + (
            f", the other {gaps} take their median {fill:.3g} kHz" if gaps else ""
        )
        zz = {e: measured.get(e, fill) for e in couplers}
    else:
        zz_source = d.zz_source
        zz = {e: d.zz_khz for e in couplers} if d.zz_khz else {}
    return {
        "zz_khz": zz,
        "t2star_us": d.t2star_ratio * np.asarray(t2_us, dtype=np.float64),
        "idle_noise_source": {"zz": zz_source, "t2star": d.t2star_source},
    }


def _value(key: str, text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise InputError(f"target override {key}={text!r}: not a number") from None
    if not math.isfinite(v):
        raise InputError(f"target override {key}={text!r}: must be finite")
    return v


def parse_idle_overrides(items: list[tuple[str, str]]) -> dict[str, float]:
    """``[(key, text)]`` of the idle keys, checked: zz any finite kHz, t2star > 0 us,
    0 < t2star_ratio <= 1; t2star and t2star_ratio exclude each other."""
    out: dict[str, float] = {}
    for key, text in items:
        v = _value(key, text)
        if key == "t2star" and not v > 0:
            raise InputError(f"target override t2star={text!r}: must be a positive time in us")
        if key == "t2star_ratio" and not 0 < v <= 1:
            raise InputError(f"target override t2star_ratio={text!r}: must be in (0, 1] (T2* <= T2)")
        out[key] = v
    if "t2star" in out and "t2star_ratio" in out:
        raise InputError("target overrides t2star and t2star_ratio exclude each other: give one")
    return out


def apply_idle_overrides(target: Target, values: dict[str, float], name: str) -> Target:
    """A copy of ``target`` with the overrides applied, named ``name`` (what the user typed)."""
    if not values:
        return target
    zz, t2star = dict(target.zz_khz), target.t2star_us
    source = dict(target.idle_noise_source)
    if "zz" in values:
        zz = {e: values["zz"] for e in target.couplers} if values["zz"] else {}
        source["zz"] = f"override zz={values['zz']:g} kHz on every coupler"
    if "t2star" in values:
        t2star = np.full(target.num_qubits, values["t2star"])
        source["t2star"] = f"override t2star={values['t2star']:g} us on every qubit"
    if "t2star_ratio" in values:
        t2star = values["t2star_ratio"] * target.t2_us
        source["t2star"] = f"override T2* = {values['t2star_ratio']:g} x T2"
    return replace(
        target,
        name=name,
        zz_khz=zz,
        t2star_us=t2star,
        idle_noise_source=source,
        source=f"{target.source}; idle-noise overrides {', '.join(f'{k}={v:g}' for k, v in values.items())}",
    )
