"""Imported by the comparison's fork server: loads every tool and this project's compiled router
once, so each forked compile starts warm and its measured time is the compile alone. No peer
compiles here: Qiskit's first transpile starts its Rust thread pool, which a forked child inherits
without its threads, and the child's transpile then waits forever (seen here, in
CommutativeCancellation); compare_synthesis.py times the peers warm inside the child instead."""

import cirq  # noqa: F401
import pytket.passes  # noqa: F401
import qiskit  # noqa: F401

from hqvit.compiler.hqvit import HQViTConfig
from hqvit.compiler.pipeline import compile_hqvit
from hqvit.targets import resolve_target

compile_hqvit(HQViTConfig((8, 8), (4, 4)), resolve_target("grid:4x4"), opt=1)
