"""General benchmark circuits, generated offline with mqt-bench (``bench`` extra).

Each circuit is mqt-bench's target-independent level, final measurements removed, expanded by
Qiskit (optimization level 0, no optimization) into CX plus standard one-qubit gates and exported
as OpenQASM 2: every compiler then starts from the same text. Generation is deterministic
(mqt-bench seeds its random parameters and random circuits).
"""

from __future__ import annotations

from functools import cache

# (mqt-bench name, qubits): QFT, GHZ, QAOA, two VQE ansaetze, Grover and random circuits, 6-16 qubits
GENERAL = [
    ("ghz", 16),
    ("qft", 8),
    ("qft", 16),
    ("qftentangled", 12),
    ("qaoa", 10),
    ("qaoa", 16),
    ("vqe_real_amp", 12),
    ("vqe_su2", 16),
    ("grover", 6),
    ("randomcircuit", 6),
    ("randomcircuit", 10),
    ("wstate", 12),
]

BASIS = ["cx", "u3", "h", "x", "y", "z", "s", "sdg", "t", "tdg", "sx", "rx", "ry", "rz"]


@cache
def general_qasm(name: str, qubits: int) -> str:
    from mqt.bench import BenchmarkLevel, get_benchmark
    from qiskit import qasm2, transpile

    qc = get_benchmark(name, BenchmarkLevel.INDEP, qubits)
    qc.remove_final_measurements()
    qc = transpile(qc, basis_gates=BASIS, optimization_level=0, seed_transpiler=0)
    return qasm2.dumps(qc)


def general_circuits() -> list[tuple[str, str]]:
    return [(f"{name} {n}", general_qasm(name, n)) for name, n in GENERAL]
