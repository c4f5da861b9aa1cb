"""Google targets from the calibrations cirq-google ships (offline; optional extra ``google``).

``sycamore23`` = 'rainbow', ``sycamore54`` = 'weber' (53 working qubits), ``willow105`` =
'willow_pink'. Pauli error rates p are converted to average gate infidelities r = p d / (d + 1);
T2 comes from T1 and Tphi: 1/T2 = 1/(2 T1) + 1/Tphi. Sycamore devices use sqrt-iSWAP as the
native entangler (calibrated on every coupler), Willow uses CZ. The calibrations carry no idle
ZZ and no Ramsey T2*: both are the "google" family defaults of targets/idle_noise.py.

Repetition delay: Google publishes no per-shot reset time for these devices. The one published
rate is Sycamore's: one circuit sampled 10^6 times in about 200 s (Arute et al., "Quantum
supremacy using a programmable superconducting processor", Nature 574, 505 (2019)), i.e. about
200 µs per shot, of which the circuit and readout are ~2 µs; we charge the 200 µs as the delay
between shots on every Google target, Willow included (no figure of its own).
"""

from __future__ import annotations

import numpy as np

from hqvit.ir.errors import InputError
from hqvit.targets.idle_noise import idle_fields
from hqvit.targets.target import Target

REP_DELAY_US = 200.0
REP_DELAY_SOURCE = "Sycamore sampling rate, 10^6 shots in ~200 s (Arute et al., Nature 574, 505, 2019)"
GOOGLE = {
    "sycamore23": ("rainbow", "sqrt_iswap"),
    "sycamore54": ("weber", "sqrt_iswap"),
    "willow105": ("willow_pink", "cz"),
}


def google_target(name: str) -> Target:
    calibration, entangler = GOOGLE[name]
    try:
        import cirq
        import cirq_google
    except ImportError:
        raise InputError(f"target {name} needs the 'google' extra: pip install 'hqvit-compiler[google]'") from None
    props = cirq_google.engine.load_device_noise_properties(calibration)
    qubits = sorted(props.qubits)
    index = {q: i for i, q in enumerate(qubits)}
    gate_type = cirq.ISwapPowGate if entangler == "sqrt_iswap" else cirq.CZPowGate
    one_q = np.zeros(len(qubits))
    couplers: dict[tuple[int, int], float] = {}
    for op_id, p in props.gate_pauli_errors.items():
        if op_id.gate_type is cirq.PhasedXZGate and len(op_id.qubits) == 1:
            one_q[index[op_id.qubits[0]]] = p * 2 / 3
        elif op_id.gate_type is gate_type and len(op_id.qubits) == 2:
            a, b = (index[q] for q in op_id.qubits)
            couplers[(min(a, b), max(a, b))] = p * 4 / 5
    t1_us = np.array([props.t1_ns[q] for q in qubits]) / 1e3
    tphi_us = np.array([props.tphi_ns[q] for q in qubits]) / 1e3
    t2_us = 1.0 / (1.0 / (2 * t1_us) + 1.0 / tphi_us)
    readout = np.array([float(np.mean(props.readout_errors[q])) for q in qubits])
    times = {t.__name__: v for t, v in props.gate_times_ns.items()}
    return Target(
        name=name,
        num_qubits=len(qubits),
        couplers=couplers,
        one_qubit_native="any",
        two_qubit_gate=entangler,
        durations_ns={
            "one_qubit": times["PhasedXZGate"],
            "two_qubit": times[gate_type.__name__],
            "measure": times["MeasurementGate"],
        },
        one_qubit_error=one_q,
        readout_error=readout,
        t1_us=t1_us,
        t2_us=t2_us,
        **idle_fields("google", couplers, t2_us),
        virtual_z=times.get("ZPowGate", 1.0) == 0.0,
        rep_delay_us=REP_DELAY_US,
        rep_delay_source=REP_DELAY_SOURCE,
        source=f"cirq-google median calibration '{calibration}'",
        qubit_labels=[f"q({q.row}, {q.col})" for q in qubits],
    )
