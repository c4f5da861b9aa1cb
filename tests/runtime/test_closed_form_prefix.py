"""The adjoint path's closed-form encoded state (a (x) a placed by the boundary layout).

It must equal the simulated prefix of the compiled circuit (ideal and routed, native targets),
keep the adjoint gradients equal to the complex128 parameter-shift oracle of test_adjoint.py
(trainable, data angles, and tokens through torch autograd), and give way to the simulated
prefix whenever the encode segment is not the placed pair of trees.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np
import pytest
import torch

from hqvit.compiler.hqvit import HQViTConfig
from hqvit.compiler.pipeline import CompiledCircuit, compile_hqvit
from hqvit.ir.angles import Angle
from hqvit.ir.circuit import Gate, Segment
from hqvit.runtime.adjoint import AdjointEngine
from hqvit.runtime.closed_form_prefix import amplitudes_from_angles, amplitudes_from_tokens, prefix_fidelity
from hqvit.runtime.encoding import data_bindings
from hqvit.runtime.exact import exact_attention
from hqvit.runtime.quantum_attention import QsimAttention, qsim_attention
from hqvit.targets import resolve_target
from tests.runtime.test_adjoint import _inputs, _shift_oracle

CFG = HQViTConfig((8, 8), (4, 4))
TARGETS = [(None, 1), ("ibm-torino", 1), ("ibm-torino", 3), ("sycamore23", 1), ("sycamore23", 3)]


@functools.cache
def _compiled(target: str | None, opt: int) -> CompiledCircuit:
    return compile_hqvit(CFG, resolve_target(target) if target else None, opt=opt)


def _simulated_prefix(backend: QsimAttention, data: np.ndarray) -> torch.Tensor:
    """The encode segment run gate by gate in complex128 (the torch simulator), from |0...0>."""
    engine = AdjointEngine(backend.executor.circuit, backend.readout, torch.complex128)
    return engine.encoded_states(data)


@pytest.mark.parametrize(("target", "opt"), TARGETS)
def test_closed_form_equals_simulated_prefix(target, opt):
    backend = QsimAttention(CFG, _compiled(target, opt))
    assert backend.prefix_path == "closed-form", backend.prefix_check
    tokens, data, _, _, _ = _inputs(CFG, 3, signed=True, seed=1)
    sim = _simulated_prefix(backend, data).numpy()
    for closed in (
        backend.closed_form.state(amplitudes_from_tokens(tokens)),
        backend.closed_form.from_angles(torch.from_numpy(data)),
    ):
        np.testing.assert_allclose(prefix_fidelity(closed, sim), 1.0, rtol=0, atol=1e-10)
    # and against qsim's own (single precision) prefix on real images with all-zero patches
    tokens, data, _, _, _ = _inputs(CFG, 2, signed=False)
    ex = backend.executor
    qsim = np.stack([ex.prefix_state(ex.prefix.table.bind(ex.symbol_vector(d, np.zeros(16)))) for d in data])
    np.testing.assert_allclose(
        prefix_fidelity(backend.closed_form.state(amplitudes_from_tokens(tokens)), qsim), 1.0, atol=1e-5
    )


def test_amplitudes_from_angles_inverts_the_angle_map():
    tokens = torch.randn(4, CFG.tokens, CFG.features, dtype=torch.float64)
    amp = amplitudes_from_angles(data_bindings(tokens), CFG.copy_qubits)
    np.testing.assert_allclose(amp.numpy(), amplitudes_from_tokens(tokens).numpy(), rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("target", "opt", "signed"), [(None, 1, False), (None, 1, True), ("ibm-torino", 3, True), ("sycamore23", 1, True)]
)
def test_gradients_equal_the_shift_oracle(target, opt, signed):
    """Trainable and data-angle gradients of the closed-form path (complex128) against the
    parameter-shift oracle on the same compiled circuit."""
    backend = QsimAttention(CFG, _compiled(target, opt), dtype=torch.complex128)
    assert backend.prefix_path == "closed-form", backend.prefix_check
    tokens, data, params, valid, grad_s = _inputs(CFG, 2 if target is None else 1, signed)
    oracle = AdjointEngine(backend.executor.circuit, backend.readout, torch.complex128)
    want_params, want_data = _shift_oracle(oracle, data, params, valid, grad_s, need_data=True)
    s, mask = backend.forward(data, params, valid)
    s_exact, valid_exact = exact_attention(tokens, torch.from_numpy(params), CFG)
    np.testing.assert_array_equal(mask, valid_exact.numpy())
    np.testing.assert_allclose(s, s_exact.numpy(), rtol=0, atol=1e-7)  # compiled numeric angles
    g_params, g_data = backend.vjp(data, params, valid, grad_s, need_data=True)
    np.testing.assert_allclose(g_params, want_params, rtol=0, atol=1e-6)
    np.testing.assert_allclose(g_data, want_data, rtol=0, atol=1e-6)
    assert np.abs(g_params).max() > 1e-2 and np.abs(g_data).max() > 1e-2
    # the torch path: tokens -> x / ||x|| -> state, gradients by autograd
    tok = tokens.clone().requires_grad_()
    par = torch.from_numpy(params).requires_grad_()
    s_t, _ = qsim_attention(tok, par, backend)
    (s_t * torch.from_numpy(grad_s)).sum().backward()
    np.testing.assert_allclose(s_t.detach().numpy(), s_exact.numpy(), rtol=0, atol=1e-7)
    np.testing.assert_allclose(par.grad.numpy(), want_params, rtol=0, atol=1e-6)
    # token gradients: autograd of the classical closed form S(x), smooth in x for valid tokens
    t_req = tokens.clone().requires_grad_()
    s_ref, _ = exact_attention(t_req, torch.from_numpy(params), CFG)
    (want_tokens,) = torch.autograd.grad(s_ref, t_req, torch.from_numpy(grad_s))
    assert float(want_tokens.abs().max()) > 1e-2
    np.testing.assert_allclose(tok.grad.numpy(), want_tokens.numpy(), rtol=0, atol=1e-8)
    if signed:
        # dense tokens: the angle map is differentiable, so the shift oracle's data-angle
        # gradient chained through it is the same; on images, zero sub-trees make |x| kinks in
        # the angles (their chain rule gives 0 for a zero pixel), while x / ||x|| stays smooth
        t_req = tokens.clone().requires_grad_()
        (via_angles,) = torch.autograd.grad(data_bindings(t_req), t_req, torch.from_numpy(want_data))
        np.testing.assert_allclose(tok.grad.numpy(), via_angles.numpy(), rtol=0, atol=1e-6)


def test_single_precision_model_path_matches_double():
    """The default (complex64) backend through ``qsim_attention``: S and token gradients agree
    with the complex128 closed form to single precision."""
    tokens, _, params, _, grad_s = _inputs(CFG, 3, signed=True)
    out = {}
    for dtype in (torch.complex64, torch.complex128):
        backend = QsimAttention(CFG, dtype=dtype)
        assert backend.prefix_path == "closed-form"
        tok = tokens.clone().requires_grad_()
        s, _ = qsim_attention(tok, torch.from_numpy(params), backend)
        (s * torch.from_numpy(grad_s)).sum().backward()
        out[dtype] = (s.detach().numpy(), tok.grad.numpy())
    np.testing.assert_allclose(out[torch.complex64][0], out[torch.complex128][0], atol=1e-5)
    np.testing.assert_allclose(out[torch.complex64][1], out[torch.complex128][1], atol=1e-4)


def _altered(compiled: CompiledCircuit, cnot: bool) -> CompiledCircuit:
    """The same overall circuit with the encode / trainable boundary broken: a gate G appended
    to the encode segment and G^-1 put first in the trainable segment, G = CNOT between the
    copies (the encode segment then entangles them) or RZ(pi/2) (a relative phase)."""
    segs = {s.name: list(s.ops) for s in compiled.circuit.segments}
    a, b = compiled.final_layout[CFG.index_qubits], compiled.final_layout[CFG.copy_qubits + CFG.index_qubits]
    if cnot:
        gate, inverse = Gate("cx", (a, b)), Gate("cx", (a, b))
    else:
        gate, inverse = Gate("rz", (a,), (Angle(math.pi / 2),)), Gate("rz", (a,), (Angle(-math.pi / 2),))
    segs["encode"].append(gate)
    segs["trainable"].insert(0, inverse)
    circuit = compiled.circuit.with_segments([Segment(s.name, segs[s.name]) for s in compiled.circuit.segments])
    return dataclasses.replace(compiled, circuit=circuit)


@pytest.mark.parametrize("cnot", [True, False])
def test_fallback_when_the_encode_segment_is_not_the_pair_of_trees(cnot, caplog):
    """On the ideal target (final layout = the logical numbering, no routing)."""
    compiled = _altered(_compiled(None, 1), cnot)
    with caplog.at_level("INFO", logger="hqvit.runtime.quantum_attention"):
        backend = QsimAttention(CFG, compiled)
    assert backend.prefix_path == "simulated" and backend.closed_form is None
    reason = "at zero angles" if cnot else "disagrees"  # the permutation probe / the fidelity check
    assert reason in backend.prefix_check, backend.prefix_check
    assert any("simulated" in r.getMessage() for r in caplog.records)
    # still right: the simulated prefix of the altered (but equivalent) circuit
    tokens, data, params, valid, grad_s = _inputs(CFG, 2, signed=False)
    s, _ = backend.forward(data, params, valid)
    s_exact, _ = exact_attention(tokens, torch.from_numpy(params), CFG)
    np.testing.assert_allclose(s, s_exact.numpy(), rtol=0, atol=1e-5)


def test_simulate_option_and_shift_keep_the_simulated_prefix():
    assert QsimAttention(CFG, prefix="simulate").prefix_path == "simulated"
    assert QsimAttention(CFG, gradient="shift").closed_form is None
    with pytest.raises(ValueError, match="prefix"):
        QsimAttention(CFG, prefix="closed")
