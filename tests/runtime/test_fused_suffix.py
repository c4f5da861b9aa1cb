"""The fused suffix (``runtime/fused_suffix.py``, the training path's default) against the
gate-by-gate adjoint sweep on the same compiled gates, the closed form, and finite differences.

The gate-by-gate sweep is itself checked against the parameter-shift rule (``test_adjoint.py``);
here both run in double precision, so they must agree to rounding, on the default circuits, on
routed device-native ones (complex gates, blocks that need a permutation), and on a synthetic
suffix with SWAPs, data-dependent angles and an unmeasured qubit (the paths the HQViT circuits
do not reach).
"""

import numpy as np
import pytest
import torch

from hqvit.compiler.hqvit import HQViTConfig
from hqvit.compiler.pipeline import compile_hqvit
from hqvit.ir.angles import Angle
from hqvit.ir.circuit import Circuit, Gate, Segment, compact
from hqvit.runtime.adjoint import AdjointEngine
from hqvit.runtime.data import load_dataset
from hqvit.runtime.encoding import tokens_from_images
from hqvit.runtime.exact import exact_attention
from hqvit.runtime.fused_suffix import FusedSuffix
from hqvit.runtime.quantum_attention import QsimAttention, qsim_attention
from hqvit.runtime.readout import Readout
from hqvit.targets import resolve_target


def _inputs(engine: AdjointEngine, n: int, heads: int, t: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    data = rng.uniform(-np.pi, np.pi, (n, engine.n_data))
    params = rng.uniform(-np.pi, np.pi, (heads, len(engine.trainable_symbols)))
    valid = np.ones((n, t), dtype=bool)
    grad = rng.normal(size=(n, heads, t, t))
    return data, params, valid, grad


def _compare(circuit: Circuit, readout: Readout, heads: int, n: int = 2) -> AdjointEngine:
    """S, dL/dparams and dL/ddata of the fused engine equal the gate-by-gate sweep's (complex128)."""
    ref = AdjointEngine(circuit, readout, torch.complex128, fused=False)
    fused = AdjointEngine(circuit, readout, torch.complex128)
    assert fused.fused is not None and ref.fused is None
    data, params, valid, grad = _inputs(ref, n, heads, readout.cfg.tokens)
    s0, m0, st0 = ref.forward(data, params, valid)
    s1, m1, st1 = fused.forward(data, params, valid)
    np.testing.assert_array_equal(m1, m0)
    np.testing.assert_allclose(s1, s0, rtol=0, atol=1e-12)
    gp0, gd0 = ref.vjp(st0, grad, True)
    gp1, gd1 = fused.vjp(st1, grad, True)
    np.testing.assert_allclose(gp1, gp0, rtol=0, atol=1e-10)
    np.testing.assert_allclose(gd1, gd0, rtol=0, atol=1e-10)
    assert np.abs(gp0).max() > 1e-2 and np.abs(gd0).max() > 1e-2  # vanishing gradients would pass trivially
    return fused


@pytest.mark.parametrize("target", [None, "ibm-torino", "sycamore23"])
def test_fused_equals_gate_by_gate_on_compiled_circuits(target):
    cfg = HQViTConfig((8, 8), (4, 4))
    compiled = compile_hqvit(cfg, resolve_target(target), opt=1) if target else None
    backend = QsimAttention(cfg, compiled)
    engine = _compare(backend.executor.circuit, backend.readout, heads=1)
    blocks = engine.fused.blocks
    assert all(len(b.wires) <= 4 for b in blocks)
    if target is None:  # U_Q, U_K, then the Bell measurement's CNOT + H pairs: four 4-qubit blocks
        assert [len(b.slots) for b in blocks] == [8, 8, 0, 0]
        # the two pair blocks interleave the copies' axes: one permuted copy of the state serves both
        assert [b.mode for b in blocks] == ["view", "view", "permute", "view"]


def test_fused_two_heads_and_the_cswap_lowering():
    cfg = HQViTConfig((8, 8), (4, 4), heads=2, swap_test="cswap")
    backend = QsimAttention(cfg)
    engine = _compare(backend.executor.circuit, backend.readout, heads=2)
    # the heads share the encoded state up to U_Q's block: its kept input is one row per image
    data, params, valid, _ = _inputs(engine, 3, 2, cfg.tokens)
    state = engine.forward(data, params, valid)[2].fused
    first = next(i for i, b in enumerate(engine.fused.blocks) if b.fixed is None)
    assert state.inputs[first].shape[:2] == (3, 1) and state.final.shape[0] == 6


def _synthetic(cfg: HQViTConfig) -> tuple[Circuit, Readout]:
    """The digits circuit on two more qubits (never measured), with SWAPs, a data-dependent angle
    and a rotation with a non-unit coefficient in the suffix, an extra qubit entangled with a
    measured one, and last gates on the extra qubits alone (which the readout cannot see)."""
    compiled = compile_hqvit(cfg)
    circuit, remap = compact(compiled.circuit, keep=compiled.final_layout)
    n = circuit.num_qubits
    extra, extra2 = n, n + 1
    data, train = circuit.symbols_of_kind("data"), circuit.symbols_of_kind("trainable")
    head = [
        Gate("swap", (2, 3)),
        Gate("ry", (extra,), (Angle(0.4, ((data[3], 1.0),)),)),
        Gate("cx", (extra, 4)),
        Gate("rx", (2,), (Angle(0.1, ((train[0], 0.5),)),)),
        Gate("h", (extra,)),
    ]
    tail = [Gate("swap", (extra, 5)), Gate("rz", (9,), (Angle(0.2, ((data[1], -1.5),)),))]
    tail += [Gate("cx", (extra, extra2)), Gate("rx", (extra2,), (Angle(0.7, ((data[0], 1.0),)),))]
    segments = []
    for seg in circuit.segments:
        ops = list(seg.ops)
        if seg.name == "trainable":
            ops = head + ops + tail
        segments.append(Segment(seg.name, ops))
    wide = Circuit(n + 2, segments, dict(circuit.symbols), dict(circuit.registers))
    readout = Readout(cfg, compiled.logical.registers, [remap[p] for p in compiled.final_layout], n + 2)
    return wide, readout


def test_swaps_data_angles_and_an_unmeasured_qubit():
    cfg = HQViTConfig((8, 8), (4, 4))
    circuit, readout = _synthetic(cfg)
    engine = _compare(circuit, readout, heads=2)
    fused: FusedSuffix = engine.fused
    assert fused.per_image  # the suffix reads the data: matrices per image and head
    measured = {fused.wire_of[q] for q in readout.kept}
    assert all(set(b.wires) & measured for b in fused.blocks)
    assert fused.dropped == 2  # the last cx + rx on the extra qubits
    assert fused.rest_bits == 2
    names = {g[0] for b in fused.blocks for g in b.gates}
    assert "swap" not in names  # relabelings, not gates


def _tokens(cfg: HQViTConfig, dataset: str, n: int) -> torch.Tensor:
    return tokens_from_images(load_dataset(dataset, cfg.image).images[:n].double(), cfg)


@pytest.mark.parametrize("image,dataset", [((8, 8), "digits"), ((16, 16), "mnist5k")])
def test_training_path_matches_the_closed_form(image, dataset):
    """``qsim_attention`` in single precision (what ``hqvit train`` runs): S within 1e-5 of the
    closed form, parameter and token gradients within 1e-4 relative of its autograd."""
    cfg = HQViTConfig(image, (4, 4))
    backend = QsimAttention(cfg)
    assert backend.prefix_path == "closed-form" and backend.adjoint.fused is not None
    tokens = _tokens(cfg, dataset, 3)
    rng = np.random.default_rng(1)
    params0 = torch.from_numpy(rng.uniform(-np.pi, np.pi, (1, len(cfg.trainable_symbols()))))
    grad = torch.from_numpy(rng.normal(size=(3, 1, cfg.tokens, cfg.tokens)))
    out = {}
    for name, fn in (
        ("fused", lambda t, p: qsim_attention(t, p, backend)),
        ("exact", lambda t, p: exact_attention(t, p, cfg)),
    ):
        tok = tokens.clone().requires_grad_()
        par = params0.clone().requires_grad_()
        s, mask = fn(tok, par)
        (s * grad).sum().backward()
        out[name] = (s.detach(), mask, par.grad, tok.grad)
    (s1, m1, gp1, gt1), (s0, m0, gp0, gt0) = out["fused"], out["exact"]
    assert torch.equal(m1, m0)
    assert float((s1 - s0).abs().max()) <= 1e-5
    assert float((gp1 - gp0).abs().max()) <= 1e-4 * float(gp0.abs().max())
    assert float((gt1 - gt0).abs().max()) <= 1e-4 * float(gt0.abs().max())


def test_gradients_match_finite_differences():
    """Central differences of L = sum(G * S) through the fused engine itself (complex128)."""
    cfg = HQViTConfig((8, 8), (4, 4))
    backend = QsimAttention(cfg)
    engine = AdjointEngine(backend.executor.circuit, backend.readout, torch.complex128)
    data, params, valid, grad = _inputs(engine, 2, 1, cfg.tokens, seed=3)
    _, _, state = engine.forward(data, params, valid)
    g, _ = engine.vjp(state, grad, False)
    h = 1e-5
    fd = np.zeros_like(params)
    for j in range(params.shape[1]):
        loss = []
        for sign in (1.0, -1.0):
            p = params.copy()
            p[0, j] += sign * h
            loss.append(float((engine.forward(data, p, valid)[0] * grad).sum()))
        fd[0, j] = (loss[0] - loss[1]) / (2 * h)
    assert np.abs(g - fd).max() <= 1e-4 * np.abs(fd).max()
