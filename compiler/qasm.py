"""OpenQASM I/O: OpenQASM 2 export (bound) and import, OpenQASM 3 export with ``input`` symbols.

Import parses with Cirq's OpenQASM 2 parser (qelib1 gates, user gate definitions, full error
positions) and maps the result onto IR gates: named gates stay as they are, any other single-qubit
unitary becomes RZ·RY·RZ, anything else is decomposed by Cirq first.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path

import cirq

from hqvit.ir.angles import Angle
from hqvit.ir.circuit import Circuit, Gate, Measure, Segment
from hqvit.ir.errors import InputError
from hqvit.ir.gates import GATES, NON_LIBRARY
from hqvit.ir.resources import check_compilable


def _num(x: float) -> str:
    return repr(float(x))


def _gate_line(g: Gate, args: list[str]) -> str:
    params = f"({', '.join(args)})" if args else ""
    return f"{GATES[g.name].qasm}{params} " + ",".join(f"q[{q}]" for q in g.qubits) + ";"


def _measure_lines(circuit: Circuit) -> tuple[list[str], int]:
    measured = circuit.measured_qubits()
    return [f"measure q[{q}] -> c[{k}];" for k, q in enumerate(measured)], len(measured)


def gate_definitions(circuit: Circuit) -> list[str]:
    """``gate`` blocks for the native gates the standard libraries lack (ECR, sqrt-iSWAP, MS, ZZ),
    written with cx and u3 from the exact templates in passes.native."""
    from hqvit.passes.native import two_qubit_template

    used = sorted({g.name for g in circuit.gates()} & set(NON_LIBRARY))
    out = []
    for name in used:
        body = []
        for g in two_qubit_template(name, "cx"):
            args = [_num(a.const) for a in g.angles]
            params = f"({', '.join(args)})" if args else ""
            body.append(f"{GATES[g.name].qasm}{params} " + ",".join("ab"[q] for q in g.qubits) + ";")
        out.append(f"gate {name} a,b {{ {' '.join(body)} }}")
    return out


def to_qasm2(circuit: Circuit, bindings: Mapping[str, float] | None = None) -> str:
    """OpenQASM 2.0 with every angle bound to a number."""
    if not circuit.is_lowered():
        raise ValueError("lower the circuit before exporting it to OpenQASM")
    measure, n_meas = _measure_lines(circuit)
    lines = ["OPENQASM 2.0;", 'include "qelib1.inc";', *gate_definitions(circuit), f"qreg q[{circuit.num_qubits}];"]
    if n_meas:
        lines.append(f"creg c[{n_meas}];")
    for g in circuit.gates():
        try:
            args = [_num(a.bind(bindings or {})) for a in g.angles]
        except KeyError as e:
            raise InputError(f"OpenQASM 2 export needs every symbol bound: {e.args[0]}") from None
        lines.append(_gate_line(g, args))
    return "\n".join(lines + measure) + "\n"


def _expr3(a: Angle) -> str:
    parts = [f"{_num(c)}*{name}" if c != 1.0 else name for name, c in a.terms]
    if a.const or not parts:
        parts.append(_num(a.const))
    return " + ".join(parts)


def to_qasm3(circuit: Circuit) -> str:
    """OpenQASM 3 with every used symbol declared as ``input float[64]``."""
    if not circuit.is_lowered():
        raise ValueError("lower the circuit before exporting it to OpenQASM")
    _, n_meas = _measure_lines(circuit)
    lines = ["OPENQASM 3.0;", 'include "stdgates.inc";', *gate_definitions(circuit)]
    used = circuit.used_symbols()
    for name, kind in circuit.symbols.items():
        if name in used:
            lines.append(f"input float[64] {name};  // {kind}")
    lines.append(f"qubit[{circuit.num_qubits}] q;")
    if n_meas:
        lines.append(f"bit[{n_meas}] c;")
    for g in circuit.gates():
        lines.append(_gate_line(g, [_expr3(a) for a in g.angles]))
    lines += [f"c[{k}] = measure q[{q}];" for k, q in enumerate(circuit.measured_qubits())]
    return "\n".join(lines) + "\n"


# Cirq names imported qubits "<register>_<index>"; registers keep their declaration order.
_QREG = re.compile(r"\bqreg\s+([A-Za-z_][A-Za-z0-9_]*)\s*\[\s*(\d+)\s*\]")

_BARRIER = re.compile(r"\bbarrier\b[^;]*;")
_VERSION = re.compile(r"\bOPENQASM\s+([0-9][0-9.]*)")

# Cirq gates that map one-to-one onto IR gate names.
_FIXED = {
    cirq.H: "h",
    cirq.X: "x",
    cirq.Y: "y",
    cirq.Z: "z",
    cirq.S: "s",
    cirq.S**-1: "sdg",
    cirq.T: "t",
    cirq.T**-1: "tdg",
    cirq.X**0.5: "sx",
    cirq.X**-0.5: "sxdg",
    cirq.CNOT: "cx",
    cirq.CZ: "cz",
    cirq.SWAP: "swap",
    cirq.CCX: "ccx",
    cirq.CSWAP: "cswap",
}
_POW_AXES = ((cirq.XPowGate, "rx"), (cirq.YPowGate, "ry"), (cirq.ZPowGate, "rz"))


def _convert_op(op: cirq.Operation, index: dict[cirq.Qid, int]) -> list[Gate]:
    qs = tuple(index[q] for q in op.qubits)
    gate = op.gate
    for fixed, name in _FIXED.items():
        if gate == fixed:
            return [Gate(name, qs)]
    for cls, name in _POW_AXES:
        if isinstance(gate, cls) and not cirq.is_parameterized(gate):
            return [Gate(name, qs, (Angle(math.pi * float(gate.exponent)),))]
    if isinstance(gate, cirq.CZPowGate) and not cirq.is_parameterized(gate):
        # CZ^t = diag(1,1,1,e^{i pi t}) = phase(pi t/2) on both, then CNOT-RZ(-pi t/2)-CNOT on the target.
        h = math.pi * float(gate.exponent) / 2
        a, b = qs
        return [
            Gate("rz", (a,), (Angle(h),)),
            Gate("rz", (b,), (Angle(h),)),
            Gate("cx", (a, b)),
            Gate("rz", (b,), (Angle(-h),)),
            Gate("cx", (a, b)),
        ]
    if isinstance(gate, cirq.CXPowGate) and not cirq.is_parameterized(gate):
        cz = _convert_op(cirq.CZPowGate(exponent=gate.exponent).on(*op.qubits), index)
        return [Gate("h", (qs[1],)), *cz, Gate("h", (qs[1],))]
    if len(qs) == 1 and cirq.has_unitary(op):
        before, mid, after = cirq.deconstruct_single_qubit_matrix_into_angles(cirq.unitary(op))
        return [Gate("rz", qs, (Angle(before),)), Gate("ry", qs, (Angle(mid),)), Gate("rz", qs, (Angle(after),))]
    parts = cirq.decompose_once(op, default=None)
    if parts is None:
        raise InputError(f"OpenQASM import: cannot express gate {gate!r} in the IR gate set")
    return [g for sub in parts for g in _convert_op(sub, index)]


def from_qasm2(text: str, source: str = "<string>") -> Circuit:
    """Parse OpenQASM 2 into a single-segment ``main`` circuit; registers are flattened in order."""
    try:
        from cirq.contrib.qasm_import import QasmException, circuit_from_qasm
    except ImportError as e:  # ply is a declared dependency; say so if the install is broken
        raise InputError(f"OpenQASM import needs the 'ply' package: {e}") from None
    # Cirq's parser has no `barrier`; a barrier only fences optimizations, so it is dropped
    # (keeping its newlines so error positions still point at the right line).
    text = _BARRIER.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    try:
        parsed = circuit_from_qasm(text)
    except QasmException as e:
        msg = " ".join(str(e).split())
        raise InputError(f"malformed OpenQASM in {source}: {msg}") from None
    except Exception as e:  # the parser raises assorted errors on garbage input
        raise InputError(f"malformed OpenQASM in {source}: {type(e).__name__}: {e}") from None
    declared = [f"{reg}_{i}" for reg, size in _QREG.findall(text) for i in range(int(size))]
    rank = {name: k for k, name in enumerate(declared)}
    qubits = sorted(parsed.all_qubits(), key=lambda q: (rank.get(str(q), len(rank)), str(q)))
    index = {q: i for i, q in enumerate(qubits)}
    ops: list = []
    for op in parsed.all_operations():
        if isinstance(op.gate, cirq.MeasurementGate):
            ops.append(Measure(tuple(index[q] for q in op.qubits)))
        elif cirq.num_qubits(op) and not isinstance(op.gate, cirq.IdentityGate):
            ops.extend(_convert_op(op, index))
    if not qubits:
        raise InputError(f"OpenQASM in {source} has no qubits")
    return Circuit(len(qubits), [Segment("main", ops)])


# An OpenQASM 2 gate statement takes at least ~8 bytes ("cx a,b;"), so a file's size bounds
# its gate count before anything is parsed.
MIN_BYTES_PER_STATEMENT = 8


def read_qasm2(path: str | Path) -> Circuit:
    """Read an OpenQASM 2 file; anything else (binary data, OpenQASM 3, a file too large to compile)
    is refused with one InputError naming the file."""
    p = Path(path)
    try:
        size = p.stat().st_size
        check_compilable(size // MIN_BYTES_PER_STATEMENT, None, f"OpenQASM file {p} ({size} bytes)")
        raw = p.read_bytes()
    except OSError as e:
        raise InputError(f"cannot read OpenQASM file {p}: {e.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"--qasm {p} is not a text file (byte {e.start} is not UTF-8)") from None
    if "\0" in text:
        raise InputError(f"--qasm {p} is not a text file (it contains NUL bytes)")
    version = _VERSION.search(text)
    if version and not version.group(1).startswith("2"):
        raise InputError(f"--qasm {p} is OpenQASM {version.group(1)}; only OpenQASM 2 is read (header 'OPENQASM 2.0;')")
    return from_qasm2(text, str(p))
