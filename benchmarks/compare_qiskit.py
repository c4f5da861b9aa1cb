"""HQViT circuits: this project's --opt 3 against Qiskit's transpile(optimization_level=3).

Same logical circuit (this project's lowered circuit, bound with random:0, exported as OpenQASM 2),
same coupling graph (the target's edges, both directions), CZ-based basis for Qiskit. Two-qubit
counts and compile times are measured in the same run. Ours is checked with --verify's
statevector test where it has at most 20 qubits. Needs the ``bench`` extra (qiskit).

    python benchmarks/compare_qiskit.py [--out benchmarks/results/FILE.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import date

from compiler.hqvit import HQViTConfig
from compiler.pipeline import compile_hqvit
from compiler.qasm import to_qasm2
from compiler.verify import verify_compiled
from passes.lower import lower
from runtime.cli import _random_bindings
from targets import resolve_target

CASES = [
    ("digits 8x8", HQViTConfig((8, 8), (4, 4)), ["line:13", "grid:4x4", "heavy-hex:3"]),
    ("MNIST 16x16", HQViTConfig((16, 16), (4, 4)), ["line:17", "grid:4x5", "heavy-hex:5"]),
    ("MNIST 32x32", HQViTConfig((32, 32), (4, 4)), ["line:21", "grid:5x5", "heavy-hex:5"]),
]


def qiskit_o3(qasm: str, edges, seed: int = 0):
    from qiskit import QuantumCircuit, transpile
    from qiskit.transpiler import CouplingMap

    qc = QuantumCircuit.from_qasm_str(qasm)
    cm = CouplingMap([list(e) for e in edges] + [[b, a] for a, b in edges])
    t0 = time.perf_counter()
    out = transpile(
        qc, coupling_map=cm, basis_gates=["cz", "rz", "sx", "x"], optimization_level=3, seed_transpiler=seed
    )
    return sum(1 for i in out.data if i.operation.num_qubits == 2), time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    rows = []
    for label, cfg, targets in CASES:
        for name in targets:
            target = resolve_target(name)
            t0 = time.perf_counter()
            cc = compile_hqvit(cfg, target, opt=3)
            ours_s = time.perf_counter() - t0
            logical = lower(cc.logical)
            qasm = to_qasm2(logical, _random_bindings(logical, cfg, "random:0"))
            qk2, qk_s = qiskit_o3(qasm, target.edges)
            ours2 = cc.report()["two_qubit_gates"]
            verified = bool(verify_compiled(cc, trials=1) < 1e-3) if cfg.logical_qubits <= 20 else None
            rows.append(
                {
                    "circuit": label,
                    "target": name,
                    "ours_2q": ours2,
                    "qiskit_2q": qk2,
                    "ratio_2q": ours2 / qk2,
                    "ours_s": ours_s,
                    "qiskit_s": qk_s,
                    "ratio_time": ours_s / qk_s,
                    "verified": verified,
                }
            )
            print(
                f"| {label} | {name} | {ours2} | {qk2} | {ours2 / qk2:.2f} | {ours_s:.2f} | {qk_s:.2f} | "
                f"{ours_s / qk_s:.1f} | {verified} |",
                flush=True,
            )
    out = args.out or f"benchmarks/results/{date.today()}-{platform.node()}-qiskit.json"
    with open(out, "w") as f:
        json.dump({"machine": platform.platform(), "rows": rows}, f, indent=1)


if __name__ == "__main__":
    print("| circuit | target | ours 2q | Qiskit O3 2q | ratio | ours s | Qiskit s | time ratio | verified |")
    print("|---|---|---|---|---|---|---|---|---|")
    main()
