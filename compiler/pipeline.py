"""Compilation pipeline: logical circuit -> compiled circuit on a target's qubits.

Each pass is a pure function from circuit to circuit (see passes/); the pipeline records the
time and the gate counts after every pass so users can see where the work goes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from passes.lower import lower
from targets import Target, all_to_all

from .errors import InputError
from .hqvit import HQViTConfig, build_attention_circuit
from .ir import Circuit
from .metrics import depth, gate_counts


@dataclass
class PassRecord:
    name: str
    seconds: float
    two_qubit_gates: int
    depth: int


@dataclass
class CompiledCircuit:
    circuit: Circuit  # lowered, on the target's qubit numbering
    logical: Circuit  # as built by the frontend (high-level ops kept)
    target: Target
    initial_layout: list[int]  # logical qubit -> physical qubit before the first gate
    final_layout: list[int]  # logical qubit -> physical qubit after the last gate
    config: HQViTConfig | None = None
    passes: list[PassRecord] = field(default_factory=list)
    seconds: float = 0.0

    def report(self) -> dict:
        counts = gate_counts(self.circuit)
        logical = lower(self.logical)
        logical_counts = gate_counts(logical)
        out = {
            "logical_qubits": self.logical.num_qubits,
            "physical_qubits": len({q for g in self.circuit.gates() for q in g.qubits}),
            "target": self.target.name,
            "two_qubit_gates": counts["two_qubit_gates"],
            "one_qubit_gates": counts["one_qubit_gates"],
            "multi_qubit_gates": counts["multi_qubit_gates"],
            "cnots_before_mapping": logical_counts["cnots"],
            "depth": depth(self.circuit),
            "two_qubit_depth": depth(self.circuit, min_arity=2),
            "initial_layout": list(self.initial_layout),
            "final_layout": list(self.final_layout),
            "passes": [vars(p) for p in self.passes],
            "compile_seconds": round(self.seconds, 6),
        }
        if self.config is not None:
            cfg = self.config
            out.update(
                tokens=cfg.tokens,
                features=cfg.features,
                heads=cfg.heads,
                trainable_gates_per_head=2 * cfg.layers * cfg.feature_qubits,
                trainable_gates=2 * cfg.layers * cfg.feature_qubits * cfg.heads,
            )
        return out


def _run_passes(
    circuit: Circuit, passes: list[tuple[str, Callable[[Circuit], Circuit]]]
) -> tuple[Circuit, list[PassRecord]]:
    records = []
    for name, fn in passes:
        t0 = time.perf_counter()
        circuit = fn(circuit)
        dt = time.perf_counter() - t0
        records.append(PassRecord(name, round(dt, 6), gate_counts(circuit)["two_qubit_gates"], depth(circuit)))
    return circuit, records


def compile_circuit(
    logical: Circuit, target: Target | None = None, config: HQViTConfig | None = None
) -> CompiledCircuit:
    t0 = time.perf_counter()
    target = target or all_to_all(logical.num_qubits, "logical")
    if logical.num_qubits > target.num_qubits:
        raise InputError(f"circuit needs {logical.num_qubits} qubits but target {target.name} has {target.num_qubits}")
    circuit, records = _run_passes(logical, [("lower", lower)])
    layout = list(range(logical.num_qubits))
    if circuit.num_qubits != target.num_qubits:
        circuit = Circuit(target.num_qubits, circuit.segments, circuit.symbols, circuit.registers)
    return CompiledCircuit(circuit, logical, target, layout, list(layout), config, records, time.perf_counter() - t0)


def compile_hqvit(cfg: HQViTConfig, target: Target | None = None) -> CompiledCircuit:
    return compile_circuit(build_attention_circuit(cfg), target, cfg)
