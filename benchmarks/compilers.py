"""One adapter per compiler: logical OpenQASM 2 + a target's coupling graph -> physical circuit.

Every adapter returns a ``Compiled``: a cirq circuit over ``cirq.LineQubit(p)`` for physical
qubit ``p`` of the target, the initial and final layouts (logical qubit -> physical qubit) and
the wall-clock seconds of the compile call alone (parsing excluded). All tools get the same
coupling graph (both directions) and a CZ-based basis.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import cirq
import numpy as np

from hqvit.targets import Target

QISKIT_BASIS = ["cz", "rz", "sx", "x"]


@dataclass
class Compiled:
    circuit: cirq.Circuit  # on LineQubit(physical index)
    initial: list[int]
    final: list[int]
    seconds: float


def logical_cirq(qasm: str) -> tuple[cirq.Circuit, list[cirq.Qid]]:
    """The logical circuit on named qubits l0, l1, ... in declaration order (q[0], q[1], ...)."""
    from hqvit.compiler.qasm import from_qasm2
    from hqvit.ir.cirq_export import to_cirq

    circuit = from_qasm2(qasm)
    qubits = [cirq.NamedQubit(f"l{i}") for i in range(circuit.num_qubits)]
    return to_cirq(circuit, None, qubits, measurements=False), qubits


def ours(qasm: str, target: Target, seed: int = 0, compiled=None, bindings=None) -> Compiled:
    """This project at --opt 3. ``compiled`` (with ``bindings``) reuses an HQViT compile of the
    symbolic circuit, which is how the project is used: compile once, bind many."""
    from hqvit.compiler.pipeline import compile_circuit
    from hqvit.compiler.qasm import from_qasm2

    if compiled is None:
        logical = from_qasm2(qasm)
        t0 = time.perf_counter()
        compiled = compile_circuit(logical, target, opt=3, seed=seed)
        seconds = time.perf_counter() - t0
    else:
        seconds = compiled.seconds
    qubits = cirq.LineQubit.range(target.num_qubits)
    from hqvit.ir.cirq_export import to_cirq

    circuit = to_cirq(compiled.circuit, bindings, qubits, measurements=False)
    return Compiled(circuit, list(compiled.initial_layout), list(compiled.final_layout), seconds)


def _from_qiskit(qc) -> cirq.Circuit:
    ops = []
    for inst in qc.data:
        qs = [cirq.LineQubit(qc.find_bit(q).index) for q in inst.qubits]
        name, params = inst.operation.name, [float(p) for p in inst.operation.params]
        if name == "cz":
            ops.append(cirq.CZ(*qs))
        elif name == "rz":
            ops.append(cirq.rz(params[0])(*qs))
        elif name == "sx":
            ops.append((cirq.X**0.5)(*qs))
        elif name == "x":
            ops.append(cirq.X(*qs))
        elif name in ("barrier", "delay", "id"):
            continue
        else:
            raise ValueError(f"Qiskit output has unexpected gate {name}")
    return cirq.Circuit(ops)


def qiskit(qasm: str, target: Target, seed: int = 0) -> Compiled:
    """Qiskit ``transpile(optimization_level=3)`` onto the coupling graph, CZ + rz/sx/x basis."""
    from qiskit import QuantumCircuit, transpile
    from qiskit.transpiler import CouplingMap

    qc = QuantumCircuit.from_qasm_str(qasm)
    edges = [list(e) for e in target.edges]
    cm = CouplingMap(edges + [[b, a] for a, b in edges])
    t0 = time.perf_counter()
    out = transpile(qc, coupling_map=cm, basis_gates=QISKIT_BASIS, optimization_level=3, seed_transpiler=seed)
    seconds = time.perf_counter() - t0
    n = qc.num_qubits
    initial = list(out.layout.initial_index_layout(filter_ancillas=True))[:n]
    final = list(out.layout.final_index_layout(filter_ancillas=True))[:n]
    return Compiled(_from_qiskit(out), initial, final, seconds)


def tket(qasm: str, target: Target, seed: int = 0) -> Compiled:
    """TKET: FullPeepholeOptimise, DefaultMappingPass onto the coupling graph, rebase to CZ + Rz/SX/X,
    then the peephole clean-up TKET recommends after routing (SynthesiseTket, RemoveRedundancies)."""
    from pytket.architecture import Architecture
    from pytket.circuit import OpType
    from pytket.passes import (
        AutoRebase,
        DefaultMappingPass,
        FullPeepholeOptimise,
        RemoveRedundancies,
        SequencePass,
        SynthesiseTket,
    )
    from pytket.predicates import CompilationUnit
    from pytket.qasm import circuit_from_qasm_str

    circ = circuit_from_qasm_str(qasm)
    # logical qubits in declaration order (TKET itself sorts registers by name)
    from pytket.circuit import Qubit

    declared = re.findall(r"qreg\s+(\w+)\s*\[\s*(\d+)\s*\]", qasm)
    logical_qubits = [Qubit(name, i) for name, size in declared for i in range(int(size))]
    arch = Architecture([tuple(e) for e in target.edges])
    rebase = AutoRebase({OpType.CZ, OpType.Rz, OpType.SX, OpType.X})
    seq = SequencePass(
        [FullPeepholeOptimise(), DefaultMappingPass(arch), SynthesiseTket(), rebase, RemoveRedundancies(), rebase]
    )
    cu = CompilationUnit(circ)
    t0 = time.perf_counter()
    seq.apply(cu)
    seconds = time.perf_counter() - t0
    out = cu.circuit
    # FullPeepholeOptimise may end with implicit wire swaps: follow them to each qubit's final wire
    perm = out.implicit_qubit_permutation()
    initial = [cu.initial_map[q].index[0] for q in logical_qubits]
    final = [perm.get(cu.final_map[q], cu.final_map[q]).index[0] for q in logical_qubits]
    ops = []
    for cmd in out.get_commands():
        qs = [cirq.LineQubit(a.index[0]) for a in cmd.args]
        t, params = cmd.op.type, [float(p) for p in cmd.op.params]
        if t == OpType.CZ:
            ops.append(cirq.CZ(*qs))
        elif t == OpType.Rz:
            ops.append(cirq.rz(np.pi * params[0])(*qs))
        elif t == OpType.SX:
            ops.append((cirq.X**0.5)(*qs))
        elif t == OpType.X:
            ops.append(cirq.X(*qs))
        elif t in (OpType.Barrier,):
            continue
        else:
            raise ValueError(f"TKET output has unexpected gate {t}")
    return Compiled(cirq.Circuit(ops), initial, final, seconds)


def cirq_route(qasm: str, target: Target, seed: int = 0) -> Compiled:
    """Cirq: optimize_for_target_gateset(CZTargetGateset), RouteCQC on the coupling graph, then
    optimize_for_target_gateset again to turn the inserted SWAPs into CZs and merge."""
    import networkx as nx

    circuit, qubits = logical_cirq(qasm)
    graph = nx.Graph()
    graph.add_edges_from((cirq.LineQubit(a), cirq.LineQubit(b)) for a, b in target.edges)
    gateset = cirq.CZTargetGateset()
    t0 = time.perf_counter()
    c = cirq.optimize_for_target_gateset(circuit, gateset=gateset)
    routed, initial_map, swap_map = cirq.RouteCQC(graph).route_circuit(c)
    routed = cirq.optimize_for_target_gateset(routed, gateset=gateset)
    seconds = time.perf_counter() - t0
    initial = [initial_map[q].x for q in qubits]
    final = [swap_map[initial_map[q]].x for q in qubits]
    return Compiled(cirq.Circuit(routed.all_operations()), initial, final, seconds)


TOOLS = {"ours": ours, "qiskit": qiskit, "tket": tket, "cirq": cirq_route}
