"""Sub-batches of the adjoint path (``runtime/state_budget.py``, ``runtime/quantum_attention.py``):
a batch simulated in sub-batches gives the S and gradients of the same images simulated alone or
in one piece, also when the batch size is not a multiple of the sub-batch, and the training path
keeps each sub-batch's states from the forward instead of simulating it again in the backward.

Sub-batch sizes here are forced small with ``sub_batch_bytes`` (by default a sub-batch is 4 MiB of
state, more images than these circuits' test batches).
"""

import numpy as np
import pytest
import torch

from hqvit.compiler.hqvit import HQViTConfig
from hqvit.runtime.encoding import data_bindings
from hqvit.runtime.exact import exact_attention
from hqvit.runtime.quantum_attention import QsimAttention, qsim_attention
from hqvit.runtime.state_budget import SUB_BATCH_BYTES, plan_chunks, sub_batch_images

CFG = HQViTConfig((8, 8), (4, 4), heads=2)  # 12 qubits, two heads


def _inputs(b: int, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    tokens = torch.rand(b, CFG.tokens, CFG.features, generator=gen, dtype=torch.float64) - 0.3
    tokens[1, :2] = 0.0  # masked tokens in one image
    params = torch.rand(CFG.heads, len(CFG.trainable_symbols()), generator=gen, dtype=torch.float64) * 6 - 3
    weight = torch.randn(b, CFG.heads, CFG.tokens, CFG.tokens, generator=gen, dtype=torch.float64)
    return tokens, params, weight


def _run(fn, tokens, params, weight):
    """S, mask, dL/dparams, dL/dtokens of L = sum(weight * S)."""
    tok, par = tokens.clone().requires_grad_(), params.clone().requires_grad_()
    s, mask = fn(tok, par)
    (s * weight).sum().backward()
    return s.detach(), mask, par.grad, tok.grad


def _backend(images_per_sub_batch: int | None, dtype=torch.complex64, **kwargs) -> QsimAttention:
    backend = QsimAttention(CFG, dtype=dtype, **kwargs)
    if images_per_sub_batch is not None:  # the bytes that fit exactly that many images
        backend.sub_batch_bytes = images_per_sub_batch * backend.adjoint.array_bytes(CFG.heads)
    return backend


def test_plan_caps_chunks_at_the_sub_batch():
    """Kept states with sub-batches of 3 over 7 images: chunks 3, 3, 1 covering the batch once;
    the sub-batch from the state size: 16 images of 16 qubits in float32 per 4 MiB array."""
    plan = plan_chunks(7, 10, 5, 1 << 20, True, sub_batch=3)
    assert plan.keep and plan.forward == plan.backward == 3
    assert [(c.start, c.stop) for c in plan.chunks(plan.forward)] == [(0, 3), (3, 6), (6, 7)]
    tight = plan_chunks(7, 10, 5, 40, True, sub_batch=3)  # 4 kept images fit: recompute, chunks <= 3
    assert not tight.keep and (tight.forward, tight.backward) == (3, 3)
    assert sub_batch_images(4 << 16) == 16 and sub_batch_images(SUB_BATCH_BYTES * 2) == 1
    with pytest.raises(ValueError, match="sub_batch"):
        plan_chunks(7, 10, 5, 40, True, sub_batch=0)


@pytest.mark.parametrize("batch", [5, 4])
def test_sub_batched_training_path_equals_whole_batch_and_each_sub_batch_alone(batch):
    """Closed-form prefix, single precision (the ``hqvit train`` path), sub-batches of 2 images:
    S is bitwise that of one pass over the batch; dL/dparams is the sum and dL/dtokens the
    concatenation of the sub-batches' own gradients, to float32 rounding."""
    tokens, params, weight = _inputs(batch)
    whole, sub = _backend(None), _backend(2)
    assert whole.prefix_path == sub.prefix_path == "closed-form"
    assert whole.plan(batch, CFG.heads, True).forward == batch
    plan = sub.plan(batch, CFG.heads, True)
    assert plan.keep and plan.forward == plan.backward == 2
    ref = _run(lambda t, p: qsim_attention(t, p, whole), tokens, params, weight)
    got = _run(lambda t, p: qsim_attention(t, p, sub), tokens, params, weight)
    torch.testing.assert_close(got[0], ref[0], rtol=0, atol=0)
    torch.testing.assert_close(got[1], ref[1], rtol=0, atol=0)
    alone = [_run(lambda t, p: qsim_attention(t, p, whole), tokens[c], params, weight[c]) for c in plan.chunks(2)]
    g_params = sum(a[2] for a in alone)
    g_tokens = torch.cat([a[3] for a in alone])
    for g, ref_g in ((got[2], ref[2]), (got[2], g_params), (got[3], ref[3]), (got[3], g_tokens)):
        assert float((g - ref_g).abs().max()) <= 1e-5 * float(ref_g.abs().max())
    assert float(ref[2].abs().max()) > 1e-3 and float(ref[3].abs().max()) > 1e-3  # not trivially 0


def test_sub_batched_training_path_matches_the_closed_form():
    """Sub-batches of 2 over 5 images against the closed form's autograd: S within 1e-5,
    gradients within 1e-4 relative (the bounds of the unbatched path's test)."""
    tokens, params, weight = _inputs(5, seed=2)
    got = _run(lambda t, p: qsim_attention(t, p, _backend(2)), tokens, params, weight)
    ref = _run(lambda t, p: exact_attention(t, p, CFG), tokens, params, weight)
    assert torch.equal(got[1], ref[1])
    assert float((got[0] - ref[0]).abs().max()) <= 1e-5
    for g, r in zip(got[2:], ref[2:], strict=True):
        assert float((g - r).abs().max()) <= 1e-4 * float(r.abs().max())


def test_sub_batched_gradient_matches_finite_differences():
    """Central differences of L = sum(G * S) through the sub-batched path itself (complex128,
    sub-batches of 2 over 3 images)."""
    tokens, params, weight = _inputs(3, seed=3)
    backend = _backend(2, dtype=torch.complex128)
    assert backend.plan(3, CFG.heads, True).forward == 2
    g = _run(lambda t, p: qsim_attention(t, p, backend), tokens, params, weight)[2]
    h = 1e-5
    fd = torch.zeros_like(params)
    with torch.no_grad():
        for idx in np.ndindex(*params.shape):
            loss = []
            for sign in (1.0, -1.0):
                p = params.clone()
                p[idx] += sign * h
                loss.append(float((qsim_attention(tokens, p, backend)[0] * weight).sum()))
            fd[idx] = (loss[0] - loss[1]) / (2 * h)
    assert float((g - fd).abs().max()) <= 1e-4 * float(fd.abs().max())


def test_training_step_simulates_each_sub_batch_once():
    """With grad enabled the forward keeps each sub-batch's states and the backward sweeps them:
    the suffix runs once per sub-batch per step, not again in the backward; with grad disabled
    nothing is kept."""
    tokens, params, weight = _inputs(5, seed=4)
    backend = _backend(2)
    engine = backend.adjoint
    calls: list[int] = []
    forward = engine.forward

    def counted(data, *args, **kwargs):
        calls.append(data.shape[0])
        return forward(data, *args, **kwargs)

    engine.forward = counted
    _run(lambda t, p: qsim_attention(t, p, backend), tokens, params, weight)
    assert calls == [2, 2, 1]
    calls.clear()
    with torch.no_grad():
        qsim_attention(tokens, params, backend)
    assert calls == [2, 2, 1]


def test_sub_batched_simulated_prefix_path_equals_whole_batch():
    """The qsim-simulated prefix (``prefix="simulate"``) with data gradients through the encoding
    sweep, sub-batches of 2 over 3 images, kept from ``forward`` for ``vjp`` (complex128)."""
    tokens, params, weight = _inputs(3, seed=1)
    data = data_bindings(tokens).numpy()
    valid = ((tokens**2).sum(-1) > 0).numpy()
    out = []
    for images in (None, 2):
        backend = _backend(images, dtype=torch.complex128, prefix="simulate")
        states: list = []
        s, mask = backend.forward(data, params.numpy(), valid, states)
        assert len(states) == (1 if images is None else 2)
        g_params, g_data = backend.vjp(data, params.numpy(), valid, weight.numpy(), True, states)
        out.append((s, mask, g_params, g_data))
    for a, b in zip(out[1], out[0], strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-10)
    assert np.abs(out[0][2]).max() > 1e-3 and np.abs(out[0][3]).max() > 1e-3
