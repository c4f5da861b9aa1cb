import math

import cirq
import numpy as np
import pytest

from hqvit.compiler.hqvit import HQViTConfig, build_attention_circuit
from hqvit.compiler.qasm import from_qasm2, to_qasm2, to_qasm3
from hqvit.ir.errors import InputError
from hqvit.passes.lower import lower
from tests.helpers import assert_equivalent, random_circuit


@pytest.mark.parametrize("seed", range(8))
def test_qasm2_round_trip_preserves_the_unitary(seed):
    rng = np.random.default_rng(seed)
    circuit, bindings = random_circuit(rng, int(rng.integers(2, 6)), 30, symbolic=True)
    back = from_qasm2(to_qasm2(circuit, bindings))
    assert back.num_qubits == circuit.num_qubits
    assert_equivalent(back, circuit, bindings=bindings, atol=1e-9)


QASM_LIBRARY = """OPENQASM 2.0;
include "qelib1.inc";
qreg a[2];
qreg b[2];
creg c[4];
gate mix(t) x, y { rx(t) x; cx x, y; rz(-t/2) y; }
u3(0.1, 0.2, 0.3) a[0];
u2(0.4, pi) a[1];
cu1(pi/3) a[0], b[1];
crz(0.7) b[0], a[1];
cp(0.25) a[1], b[0];
mix(pi/5) b[1], a[0];
ccx a[0], a[1], b[0];
cswap b[1], a[0], a[1];
sxdg b[0];
barrier a, b;
measure a -> c[0:1];
"""


def test_import_matches_cirqs_own_parse_of_qelib1():
    text = QASM_LIBRARY.replace("measure a -> c[0:1];\n", "measure a[0] -> c[0];\n")
    from cirq.contrib.qasm_import import circuit_from_qasm

    ref = circuit_from_qasm(text.replace("barrier a, b;", ""))  # cirq's parser has no barrier
    ours = from_qasm2(text)
    order = [cirq.NamedQubit(f"{r}_{i}") for r in "ab" for i in range(2)]
    want = cirq.Circuit(op for op in ref.all_operations() if not cirq.is_measurement(op)).unitary(qubit_order=order)
    assert ours.num_qubits == 4
    assert ours.measured_qubits() == (0,)
    assert_equivalent(ours, want, atol=1e-9)


@pytest.mark.parametrize(
    "text,needle",
    [
        ("OPENQASM 2.0; qreg q[2]; cx q[0] q[1];", "Syntax error"),
        ('OPENQASM 2.0; include "qelib1.inc"; qreg q[2]; cx q[0], q[5];', "Out of bounds"),
        ('OPENQASM 2.0; include "qelib1.inc"; qreg q[2]; foo q[0];', "Unknown gate"),
        ("this is not qasm", "malformed OpenQASM"),
        ("", "malformed OpenQASM"),
    ],
)
def test_malformed_qasm_gives_one_clear_error(text, needle):
    with pytest.raises(InputError, match=needle) as info:
        from_qasm2(text, "bad.qasm")
    assert "\n" not in str(info.value)
    assert "bad.qasm" in str(info.value)


def test_qasm2_export_needs_bound_symbols():
    circuit = lower(build_attention_circuit(HQViTConfig()))
    with pytest.raises(InputError, match="bound"):
        to_qasm2(circuit, {})


def test_qasm3_declares_every_symbol_as_input():
    cfg = HQViTConfig((4, 4), (2, 2), layers=1)
    circuit = lower(build_attention_circuit(cfg))
    text = to_qasm3(circuit)
    assert text.startswith("OPENQASM 3.0;")
    for name in circuit.used_symbols():
        assert f"input float[64] {name};" in text
    assert f"qubit[{circuit.num_qubits}] q;" in text
    n_meas = len(circuit.measured_qubits())
    assert text.count("= measure q[") == n_meas
    # each gate line of the QASM 3 text names exactly the gate of the IR, in order
    gate_lines = [ln for ln in text.splitlines() if ln and ln.split("(")[0].split(" ")[0] in {"ry", "cx", "h"}]
    assert [ln.split("(")[0].split(" ")[0] for ln in gate_lines] == [g.name for g in circuit.gates()]


def test_numeric_angles_survive_export_exactly():
    from hqvit.ir.angles import Angle
    from hqvit.ir.circuit import Circuit, Gate, Segment

    c = Circuit(1, [Segment("main", [Gate("rx", (0,), (Angle(math.pi / 7),))])])
    back = from_qasm2(to_qasm2(c))
    (g,) = list(back.gates())
    assert g.name == "rx" and g.angles[0].const == pytest.approx(math.pi / 7, abs=1e-15)
