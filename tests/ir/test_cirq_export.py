import cirq
import numpy as np
import pytest

from hqvit.compiler.hqvit import HQViTConfig, build_attention_circuit
from hqvit.ir.cirq_export import to_cirq
from hqvit.passes.lower import lower
from tests.helpers import random_circuit


@pytest.mark.parametrize("seed", range(5))
def test_symbolic_export_resolves_to_the_bound_export(seed):
    rng = np.random.default_rng(seed)
    circuit, bindings = random_circuit(rng, 4, 30, symbolic=True)
    symbolic = to_cirq(circuit)
    assert cirq.is_parameterized(symbolic) == bool(bindings)
    resolved = cirq.resolve_parameters(symbolic, bindings)
    qubits = cirq.LineQubit.range(4)
    np.testing.assert_allclose(
        resolved.unitary(qubit_order=qubits), to_cirq(circuit, bindings).unitary(qubit_order=qubits), atol=1e-10
    )


def test_hqvit_export_keeps_every_symbol_and_the_measurement():
    circuit = lower(build_attention_circuit(HQViTConfig((8, 8), (2, 2), layers=1)))
    exported = to_cirq(circuit)
    names = {s.name for s in cirq.parameter_symbols(exported)}
    assert names == circuit.used_symbols()
    (meas,) = [op for op in exported.all_operations() if cirq.is_measurement(op)]
    assert len(meas.qubits) == len(circuit.measured_qubits())
