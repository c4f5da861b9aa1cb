"""The pass manager's one-walk figures agree with the separate counts."""

import numpy as np
import pytest

from hqvit.compiler.hqvit import HQViTConfig, build_attention_circuit
from hqvit.compiler.pipeline import compile_hqvit
from hqvit.ir.metrics import depth, gate_counts, two_qubit_gates_and_depth
from hqvit.targets.registry import resolve_target
from tests.helpers import random_circuit


@pytest.mark.parametrize("seed", range(4))
def test_one_walk_equals_gate_counts_and_depth(seed):
    circuit, _ = random_circuit(np.random.default_rng(seed), 5, 30, symbolic=True)
    assert two_qubit_gates_and_depth(circuit) == (gate_counts(circuit)["two_qubit_gates"], depth(circuit))


def test_one_walk_on_lowered_and_high_level_circuits():
    cfg = HQViTConfig(image=(8, 8), patch=(4, 4))
    for circuit in (build_attention_circuit(cfg), compile_hqvit(cfg, resolve_target("grid:4x4")).circuit):
        assert two_qubit_gates_and_depth(circuit) == (gate_counts(circuit)["two_qubit_gates"], depth(circuit))
