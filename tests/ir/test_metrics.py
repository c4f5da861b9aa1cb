"""The pass manager's one-walk figures against independent counts: the two-qubit gates by
``gate_counts`` and the depth by ``asap_levels`` (a dict-based ASAP layering)."""

import numpy as np
import pytest

from hqvit.compiler.hqvit import HQViTConfig, build_attention_circuit
from hqvit.compiler.pipeline import compile_hqvit
from hqvit.ir.metrics import asap_levels, depth, gate_counts, two_qubit_gates_and_depth
from hqvit.targets.registry import resolve_target
from tests.helpers import random_circuit


def _reference(circuit, min_arity=1):
    groups = [g.qubits for g in circuit.gates() if len(g.qubits) >= min_arity]
    return gate_counts(circuit)["two_qubit_gates"], max(asap_levels(groups), default=-1) + 1


@pytest.mark.parametrize("seed", range(4))
def test_one_walk_equals_independent_counts(seed):
    circuit, _ = random_circuit(np.random.default_rng(seed), 5, 30, symbolic=True)
    for arity in (1, 2):
        assert two_qubit_gates_and_depth(circuit, arity) == _reference(circuit, arity)
        assert depth(circuit, arity) == _reference(circuit, arity)[1]


def test_one_walk_on_lowered_and_high_level_circuits():
    cfg = HQViTConfig(image=(8, 8), patch=(4, 4))
    for circuit in (build_attention_circuit(cfg), compile_hqvit(cfg, resolve_target("grid:4x4")).circuit):
        assert two_qubit_gates_and_depth(circuit) == _reference(circuit)
        assert two_qubit_gates_and_depth(circuit, 2) == _reference(circuit, 2)
