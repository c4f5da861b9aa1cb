"""Imported by the comparison's fork server: loads every tool and this project's compiled router
once, and runs each peer's compile once on a small circuit, so each forked compile starts warm and
its measured time is the compile alone (a tool's first call pays lazy imports and one-time set-up:
about 0.5 s for Qiskit's first ``transpile`` on this machine, more than a small HQViT cell's
whole compile)."""

import cirq  # noqa: F401
import pytket.passes  # noqa: F401
import qiskit  # noqa: F401
from compilers import qiskit as qiskit_compile
from compilers import tket as tket_compile

from hqvit.compiler.hqvit import HQViTConfig
from hqvit.compiler.pipeline import compile_hqvit
from hqvit.targets import resolve_target

compile_hqvit(HQViTConfig((8, 8), (4, 4)), resolve_target("grid:4x4"), opt=1)

_SMALL = """OPENQASM 2.0;
include "qelib1.inc";
qreg q[5];
h q[0];
cx q[0],q[3];
ry(0.3) q[3];
cx q[3],q[1];
cx q[1],q[4];
rz(0.7) q[4];
cx q[4],q[2];
cx q[0],q[2];
"""
for _compile in (qiskit_compile, tket_compile):
    _compile(_SMALL, resolve_target("line:5"))
