"""Adjoint gradients of the batched torch simulator against the parameter-shift rule.

The oracle is the parameter-shift rule evaluated in double precision on the same compiled
circuit (every gate slot shifted by +-pi/2, data slots through P0 and P1 with the quotient rule),
so agreement is limited by float64 rounding, not by qsim's single precision; the qsim
parameter-shift path of ``QsimAttention`` is compared too, at single-precision tolerance.
"""

import math

import numpy as np
import pytest
import torch

from hqvit.compiler.hqvit import HQViTConfig
from hqvit.compiler.pipeline import compile_hqvit
from hqvit.ir.angles import Angle
from hqvit.ir.circuit import Circuit, Gate, Segment
from hqvit.runtime.adjoint import AdjointEngine
from hqvit.runtime.data import load_dataset
from hqvit.runtime.encoding import data_bindings, tokens_from_images
from hqvit.runtime.exact import exact_attention
from hqvit.runtime.quantum_attention import QsimAttention
from hqvit.runtime.readout import attention_torch, joint_torch
from hqvit.targets import resolve_target

SHIFT = math.pi / 2


def _inputs(cfg: HQViTConfig, n: int, signed: bool, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    if signed:  # tokens of a later block: dense and signed
        tokens = torch.randn(n, cfg.tokens, cfg.features, generator=gen, dtype=torch.float64)
    else:
        tokens = tokens_from_images(load_dataset("digits", cfg.image).images[:n].double(), cfg)
    params = torch.rand(cfg.heads, len(cfg.trainable_symbols()), generator=gen, dtype=torch.float64) * 6 - 3
    grad_s = torch.randn(n, cfg.heads, cfg.tokens, cfg.tokens, generator=gen, dtype=torch.float64)
    data = data_bindings(tokens).numpy()
    valid = ((tokens**2).sum(-1) > 0).numpy()
    return tokens, data, params.numpy(), valid, grad_s.numpy()


def _joint(engine: AdjointEngine, states: torch.Tensor) -> np.ndarray:
    probs = states.real.double() ** 2 + (states.imag.double() ** 2 if states.is_complex() else 0.0)
    return joint_torch(engine.readout, probs).numpy()


def _shift_oracle(engine: AdjointEngine, data, params, valid, grad_s, need_data: bool):
    """dL/dparams and dL/ddata by the parameter-shift rule, in the engine's (double) precision."""
    nd = engine.n_data
    suffix, prefix = engine.suffix, engine.prefix
    g_params = np.zeros_like(params)
    g_data = np.zeros_like(data)
    s_slots = np.flatnonzero(np.any(suffix.table.coeff != 0, axis=1))
    p_slots = np.flatnonzero(np.any(prefix.table.coeff[:, :nd] != 0, axis=1))
    for b in range(data.shape[0]):
        encoded = engine.encoded_states(data[b : b + 1])
        valid_b = torch.from_numpy(valid[b])
        for h in range(params.shape[0]):
            sym = np.concatenate([data[b], params[h]])[None]
            base = suffix.angles(sym)
            shifted = base.repeat(2 * len(s_slots), 1)
            rows = np.arange(len(s_slots))
            shifted[rows, s_slots] += SHIFT
            shifted[rows + len(s_slots), s_slots] -= SHIFT
            states = suffix.run(encoded.repeat(len(shifted), 1), shifted)
            s, _ = attention_torch(torch.from_numpy(_joint(engine, states)), valid_b.expand(len(shifted), -1))
            d = 0.5 * (s[: len(s_slots)] - s[len(s_slots) :]).numpy()
            contrib = np.einsum("gij,ij->g", d, grad_s[b, h])
            g_sym = contrib @ suffix.table.coeff[s_slots]
            g_params[h] += g_sym[nd:]
            g_data[b] += g_sym[:nd]
            if not need_data:
                continue
            # P0 + P1 depends on the data: shift P(a, i, j) (an expectation value), then the quotient rule
            joint = _joint(engine, suffix.run(encoded.clone(), base))[0]
            s0, mask = attention_torch(torch.from_numpy(joint[None]), valid_b[None])
            s0, mask = s0[0].numpy(), mask[0].numpy()
            total = joint[0] + joint[1]
            pair = mask[:, None] & mask[None, :] & (total > 0)
            p_base = prefix.angles(sym)
            p_shift = p_base.repeat(2 * len(p_slots), 1)
            rows = np.arange(len(p_slots))
            p_shift[rows, p_slots] += SHIFT
            p_shift[rows + len(p_slots), p_slots] -= SHIFT
            zero = torch.zeros(len(p_shift), 1 << engine.num_qubits, dtype=engine.dtype)
            zero[:, 0] = 1
            pj = _joint(engine, suffix.run(prefix.run(zero, p_shift), base.repeat(len(p_shift), 1)))
            dp = 0.5 * (pj[: len(p_slots)] - pj[len(p_slots) :])
            ds = (dp[:, 0] - dp[:, 1] - s0 * (dp[:, 0] + dp[:, 1])) / np.where(pair, total, 1.0)
            contrib = np.einsum("gij,ij->g", np.where(pair, ds, 0.0), grad_s[b, h])
            g_data[b] += (contrib @ prefix.table.coeff[p_slots])[:nd]
    return g_params, (g_data if need_data else None)


def _scaled(circuit: Circuit, factor: dict[str, float]) -> Circuit:
    """Every symbol's coefficient times ``factor[kind]``, plus a constant offset: affine angles
    with coefficients other than 1, as merged rotations have."""

    def scale(a: Angle) -> Angle:
        terms = tuple((n, c * factor[circuit.symbols[n]]) for n, c in a.terms)
        return Angle(a.const + (0.3 if terms else 0.0), terms)

    segments = [
        Segment(
            seg.name,
            [
                op if not isinstance(op, Gate) else Gate(op.name, op.qubits, tuple(map(scale, op.angles)))
                for op in seg.ops
            ],
        )
        for seg in circuit.segments
    ]
    return circuit.with_segments(segments)


def _check(cfg: HQViTConfig, compiled=None, signed: bool = False, need_data: bool = False, n: int = 2, factor=None):
    backend = QsimAttention(cfg, compiled)
    circuit = backend.executor.circuit if factor is None else _scaled(backend.executor.circuit, factor)
    engine = AdjointEngine(circuit, backend.readout, torch.complex128)
    tokens, data, params, valid, grad_s = _inputs(cfg, n, signed)
    s, mask, state = engine.forward(data, params, valid)
    g_params, g_data = engine.vjp(state, grad_s, need_data)
    want_params, want_data = _shift_oracle(engine, data, params, valid, grad_s, need_data)
    np.testing.assert_allclose(g_params, want_params, rtol=0, atol=1e-6)
    assert np.abs(g_params).max() > 1e-2  # a vanishing gradient would pass trivially
    if factor is not None:  # another circuit than qsim's and the closed form's
        np.testing.assert_allclose(g_data, want_data, rtol=0, atol=1e-6)
        return
    # qsim's parameter shift (single precision) agrees too
    qs_params, qs_data = backend.vjp(data, params, valid, grad_s, need_data)
    np.testing.assert_allclose(g_params, qs_params, rtol=0, atol=1e-5)
    if need_data:
        np.testing.assert_allclose(g_data, want_data, rtol=0, atol=1e-6)
        assert np.abs(g_data).max() > 1e-2
        np.testing.assert_allclose(g_data, qs_data, rtol=0, atol=2e-5)
    # S of the adjoint forward is the closed form's
    s_exact, valid_exact = exact_attention(tokens, torch.from_numpy(params), cfg)
    np.testing.assert_array_equal(mask, valid_exact.numpy())
    np.testing.assert_allclose(s, s_exact.numpy(), rtol=0, atol=1e-5)


def test_digits_ideal_target():
    _check(HQViTConfig((8, 8), (4, 4)))


@pytest.mark.parametrize("target", ["ibm-torino", "sycamore23"])
def test_digits_native_gates(target):
    """Device-native gates (rz / sx / cz, u3 / sqrt_iswap) with complex amplitudes, routed."""
    cfg = HQViTConfig((8, 8), (4, 4))
    compiled = compile_hqvit(cfg, resolve_target(target), opt=1)
    _check(cfg, compiled, n=1)


def test_data_gradients_for_later_blocks():
    """blocks > 1: signed dense tokens whose encoding angles need gradients (prefix sweep)."""
    _check(HQViTConfig((8, 8), (4, 4)), signed=True, need_data=True, n=1)


def test_two_heads_share_the_encoded_state():
    _check(HQViTConfig((8, 8), (4, 4), heads=2), signed=True, need_data=True, n=1)


def test_affine_coefficients_reach_the_symbols():
    """Compiled HQViT angles have coefficients +-1; scale them so the chain rule is exercised."""
    _check(HQViTConfig((8, 8), (4, 4)), signed=True, need_data=True, n=1, factor={"data": -0.5, "trainable": 2.5})


def test_model_gradients_adjoint_equal_shift():
    """Through the whole model (2 blocks, 2 heads: trainable and data gradients), single precision."""
    from hqvit.runtime.model import ModelConfig, VisionTransformer

    cfg = ModelConfig(HQViTConfig((8, 8), (4, 4), heads=2), blocks=2)
    images = load_dataset("digits", (8, 8)).images[:4]
    grads = {}
    for gradient in ("adjoint", "shift"):
        torch.manual_seed(0)
        model = VisionTransformer(cfg, backend="qsim", gradient=gradient).double()
        model(images.double()).pow(2).sum().backward()
        grads[gradient] = {name: p.grad.clone() for name, p in model.named_parameters()}
    for name, g in grads["shift"].items():
        scale = float(g.abs().max()) + 1e-12
        assert float((grads["adjoint"][name] - g).abs().max()) <= 1e-4 * scale, name


def test_shots_keep_parameter_shift_and_options_are_checked():
    from hqvit.ir.errors import InputError
    from hqvit.runtime.train import TrainConfig

    cfg = HQViTConfig((8, 8), (4, 4))
    assert QsimAttention(cfg, shots=100).adjoint is None
    assert QsimAttention(cfg).gradient == "adjoint"
    with pytest.raises(ValueError, match="gradient"):
        QsimAttention(cfg, gradient="backprop")
    with pytest.raises(InputError, match="--gradient"):
        TrainConfig(gradient="backprop").validate()
    with pytest.raises(InputError, match="--threads"):
        TrainConfig(threads=0).validate()
