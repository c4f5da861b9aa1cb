"""Imported by the comparison's fork server: loads every tool and this project's compiled router
once, so each forked compile starts warm and its measured time is the compile alone."""

import cirq  # noqa: F401
import pytket.passes  # noqa: F401
import qiskit  # noqa: F401

from hqvit.compiler.hqvit import HQViTConfig
from hqvit.compiler.pipeline import compile_hqvit
from hqvit.targets import resolve_target

compile_hqvit(HQViTConfig((8, 8), (4, 4)), resolve_target("grid:4x4"), opt=1)
