"""Checks and scores every compiler's output the same way.

Equivalence: the package's layout-aware check (``hqvit.runtime.verify``): the logical circuit and
the physical one are run on the same random product state (a random one-qubit unitary on each
logical qubit, placed on its initial physical qubit; every other physical qubit starts in |0>).
The physical state, read with logical qubit l at its final physical qubit and all others
required to be back in |0>, must match the logical state up to a global phase. Here the states
come from qsimcirq, since the other tools' outputs are Cirq circuits; only the physical qubits
the circuit touches are simulated.

Metrics and ESP: the physical circuit is read into this project's IR, its one-qubit runs are
merged by the same resynthesis into the target's native one-qubit gates (so a tool is not
charged for how it spells one-qubit rotations), it is scheduled ALAP with the target's durations
and scored with this project's ESP, readout of the logical qubits included.
"""

from __future__ import annotations

import cirq
import numpy as np
from compilers import Compiled

from hqvit.ir.circuit import Circuit, Gate, Measure, Segment
from hqvit.ir.gates import gate_unitary
from hqvit.ir.metrics import depth, gate_counts
from hqvit.passes.native import u3_from_matrix
from hqvit.passes.schedule import schedule_alap
from hqvit.passes.single_qubit import resynthesize_single_qubit
from hqvit.runtime.verify import layout_equivalence_error, random_product_input
from hqvit.targets import Target
from hqvit.targets.noise import esp, plan_moments

MAX_SIMULATED = 24
# 1 - |<a|b>| / (|a| |b|) in complex64 statevectors over up to ~6000 gates; a wrong circuit
# gives an overlap near 2^-n, far from 1
TOLERANCE = 1e-4


def _simulate(circuit: cirq.Circuit, qubits: list[cirq.Qid]) -> np.ndarray:
    import qsimcirq

    sim = qsimcirq.QSimSimulator(qsimcirq.QSimOptions(cpu_threads=1))
    return sim.simulate(circuit, qubit_order=qubits).final_state_vector.astype(np.complex128)


def equivalence_error(logical: cirq.Circuit, logical_qubits: list[cirq.Qid], out: Compiled, seed: int = 0) -> float:
    """1 - |<logical|physical>| on one random product input; raises ValueError if too wide."""
    touched = sorted({q.x for q in out.circuit.all_qubits()} | set(out.initial) | set(out.final))
    if len(touched) > MAX_SIMULATED:
        raise ValueError(f"{len(touched)} physical qubits touched, more than {MAX_SIMULATED} to simulate")
    if len(set(out.initial)) != len(out.initial) or len(set(out.final)) != len(out.final):
        return 1.0
    prep = random_product_input(len(logical_qubits), np.random.default_rng(seed))
    want = _simulate(
        cirq.Circuit([cirq.MatrixGate(u)(q) for u, q in zip(prep, logical_qubits, strict=True)], logical),
        logical_qubits,
    )
    phys = [cirq.LineQubit(p) for p in touched]
    prep_phys = [cirq.MatrixGate(u)(cirq.LineQubit(p)) for u, p in zip(prep, out.initial, strict=True)]
    got = _simulate(cirq.Circuit(prep_phys, out.circuit), phys)
    pos = {p: k for k, p in enumerate(touched)}
    return layout_equivalence_error(want, got, [pos[p] for p in out.final])


def to_ir(out: Compiled, target: Target) -> Circuit:
    """The physical circuit as IR gates (cz / cx kept, one-qubit gates as u3), then measurement of
    each logical qubit's final physical qubit."""
    ops: list = []
    for op in out.circuit.all_operations():
        qs = tuple(q.x for q in op.qubits)
        if len(qs) == 1:
            ops.append(u3_from_matrix(cirq.unitary(op), qs[0]))
            continue
        u = cirq.unitary(op)
        if cirq.allclose_up_to_global_phase(u, gate_unitary("cz")):
            ops.append(Gate("cz", qs))
        elif cirq.allclose_up_to_global_phase(u, gate_unitary("cx")):
            ops.append(Gate("cx", qs))
        else:
            raise ValueError(f"output has a non-CZ two-qubit gate {op}")
    ops.append(Measure(tuple(out.final)))
    return Circuit(target.num_qubits, [Segment("main", ops)])


def score(out: Compiled, target: Target) -> dict:
    ir = resynthesize_single_qubit(to_ir(out, target), target.one_qubit_native)
    schedule = schedule_alap(ir)
    moments = [[(g.name, g.qubits) for g in m] for m in schedule.moments]
    counts = gate_counts(ir)
    s = esp(plan_moments(moments, target), schedule.measured, target)
    return {
        "two_qubit_gates": counts["two_qubit_gates"],
        "two_qubit_depth": depth(ir, min_arity=2),
        "depth": schedule.depth(),
        "duration_ns": s.get("duration_ns"),
        "esp": s["esp"],
    }
