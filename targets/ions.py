"""Trapped-ion targets: all-to-all, from published average figures (uniform over qubits).

IonQ Aria (25 qubits, native MS + arbitrary single-qubit rotations). Source: the IonQ provider
page of the Azure Quantum documentation (2024): T1 10-100 s (we take 10 s), T2 1 s, single-qubit
gate 135 µs, two-qubit gate 600 µs, single-qubit fidelity 99.95 %, two-qubit 99.6 %, SPAM 99.61 %.
Readout duration is not in that table; 300 µs is our assumption.

Quantinuum H2 (56 qubits since the 2024 upgrade, native ZZ = RZZ(pi/2) + arbitrary rotations).
Error rates from Moses et al., "A Race-Track Trapped-Ion Quantum Processor", PRX 13, 041052
(2023): single-qubit infidelity 1.9e-5, two-qubit 1.8e-3, SPAM 1.6e-3. Quantinuum publishes no
per-gate durations (ion transport dominates); the 10 µs / 250 µs / 150 µs gate / 2q / readout
times and T1 = 60 s, T2 = 3 s below are order-of-magnitude assumptions, documented as such.

Repetition delay: IonQ publishes no per-shot reset or cooling time for Aria; the one IonQ figure
is its earlier system's "register reset 25 µs" (same Azure Quantum IonQ provider page, 2021
edition, with readout 100 µs). We charge those 25 µs; per-shot time on Aria is dominated by the
schedule itself (600 µs per two-qubit gate) and the readout. Quantinuum publishes none: unknown.
"""

from __future__ import annotations

from itertools import combinations

from hqvit.targets.idle_noise import idle_fields
from hqvit.targets.target import Target

IONQ_REP_DELAY_US = 25.0
IONQ_REP_DELAY_SOURCE = "IonQ register reset 25 µs (Azure Quantum IonQ provider page, 2021; none published for Aria)"


def _ions(
    name, n, gate, p1, p2, ro, t1_s, t2_s, d1_us, d2_us, dm_us, source, rep_delay_us=None, rep_delay_source=""
) -> Target:
    couplers = {e: p2 for e in combinations(range(n), 2)}
    return Target(
        name=name,
        num_qubits=n,
        couplers=couplers,
        one_qubit_native="any",
        two_qubit_gate=gate,
        durations_ns={"one_qubit": d1_us * 1e3, "two_qubit": d2_us * 1e3, "measure": dm_us * 1e3},
        one_qubit_error=[p1] * n,
        readout_error=[ro] * n,
        t1_us=[t1_s * 1e6] * n,
        t2_us=[t2_s * 1e6] * n,
        **idle_fields("ions", couplers, [t2_s * 1e6] * n),
        rep_delay_us=rep_delay_us,
        rep_delay_source=rep_delay_source,
        source=source,
    )


def ionq_aria() -> Target:
    return _ions(
        "ionq-aria",
        25,
        "ms",
        5e-4,
        4e-3,
        3.9e-3,
        10.0,
        1.0,
        135.0,
        600.0,
        300.0,
        "IonQ Aria, published averages (Azure Quantum IonQ provider page, 2024)",
        IONQ_REP_DELAY_US,
        IONQ_REP_DELAY_SOURCE,
    )


def quantinuum_h2() -> Target:
    return _ions(
        "quantinuum-h2",
        56,
        "zz",
        1.9e-5,
        1.8e-3,
        1.6e-3,
        60.0,
        3.0,
        10.0,
        250.0,
        150.0,
        "Quantinuum H2, Moses et al. PRX 13, 041052 (2023); durations and T1/T2 assumed",
        None,
        "Quantinuum publishes no repetition delay",
    )
