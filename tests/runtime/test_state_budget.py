"""The adjoint path's state-memory budget (``runtime/state_budget.py``): the planner's chunks stay
within the budget and cover the batch, and a batch simulated in chunks (forward-only chunks, then
a recomputed forward per backward chunk) gives the S and gradients of the unchunked path.

Peak memory itself is measured by ``benchmarks/qsim_memory.py`` at 20 qubits, not here.
"""

import numpy as np
import pytest
import torch

from hqvit.compiler.hqvit import HQViTConfig
from hqvit.runtime.quantum_attention import QsimAttention, qsim_attention
from hqvit.runtime.state_budget import GIB, budget_from_gib, plan_chunks

CFG = HQViTConfig((8, 8), (4, 4), heads=2)  # 12 qubits, two heads


@pytest.mark.parametrize("grad", [True, False])
def test_plan_stays_within_the_budget_and_covers_the_batch(grad):
    for images in (1, 2, 7, 32, 64, 256):
        for keep_bytes, forward_bytes in ((56, 32), (10, 10), (1000, 400)):
            for budget in (1, 55, 100, 999, 4096, 1 << 20):
                plan = plan_chunks(images, keep_bytes, forward_bytes, budget, grad)
                if plan.keep:  # one chunk holding everything the backward needs (or one image)
                    assert grad and (images * keep_bytes <= budget or images == 1)
                    continue
                for size, per_image in ((plan.forward, forward_bytes), (plan.backward, keep_bytes)):
                    assert size >= 1
                    assert size * per_image <= budget or size == 1  # one image may exceed it alone
                    covered = np.concatenate([np.arange(images)[c] for c in plan.chunks(size)])
                    np.testing.assert_array_equal(covered, np.arange(images))
                if not grad:
                    assert plan.forward == images or images * forward_bytes > budget


def test_backend_plan_at_twenty_qubits_is_within_the_default_budget():
    """The 32x32, 4x4-patch circuit's planned state bytes per chunk at batch 64 and the
    evaluation batch of 256 (built without the qsim check of the prefix: planning only)."""
    backend = QsimAttention(HQViTConfig((32, 32), (4, 4), heads=2), prefix="simulate")
    assert backend.adjoint.num_qubits == 20
    keep, forward = backend.adjoint.state_bytes(2, True), backend.adjoint.state_bytes(2, False)
    for images, grad, kept in ((32, True, True), (64, True, False), (256, False, False)):
        plan = backend.plan(images, 2, grad)
        assert plan.forward * forward <= 2 * GIB and plan.backward * keep <= 2 * GIB
        assert plan.keep == kept and (kept or min(plan.forward, plan.backward) < images)


def test_budget_from_gib_rejects_what_is_not_a_positive_size():
    assert budget_from_gib(2) == 2 * GIB and budget_from_gib(0.5) == GIB // 2
    for bad in (0, -1, float("nan"), float("inf"), "2", True):
        with pytest.raises(ValueError, match="positive number of GiB"):
            budget_from_gib(bad)


def _inputs(b: int, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    tokens = torch.rand(b, CFG.tokens, CFG.features, generator=gen, dtype=torch.float64)
    tokens[1, :2] = 0.0  # masked tokens in one image
    params = torch.rand(CFG.heads, len(CFG.trainable_symbols()), generator=gen, dtype=torch.float64) * 6 - 3
    weight = torch.randn(b, CFG.heads, CFG.tokens, CFG.tokens, generator=gen, dtype=torch.float64)
    return tokens, params, weight


def _run(backend: QsimAttention, tokens, params, weight):
    tok, par = tokens.clone().requires_grad_(), params.clone().requires_grad_()
    s, mask = qsim_attention(tok, par, backend)
    (s * weight).sum().backward()
    with torch.no_grad():
        s_eval, _ = qsim_attention(tokens, params, backend)
    return s.detach().numpy(), mask.numpy(), s_eval.numpy(), par.grad.numpy(), tok.grad.numpy()


@pytest.mark.parametrize("dtype", [torch.complex64, torch.complex128])
def test_chunked_closed_form_path_equals_unchunked(dtype):
    """Training path (closed-form prefix): a budget of about two images per chunk against one
    that holds the whole batch; S, the token mask, dL/dparams and dL/dtokens agree to rounding."""
    tokens, params, weight = _inputs(5)
    whole = QsimAttention(CFG, dtype=dtype)
    assert whole.prefix_path == "closed-form" and whole.plan(5, 2, True).keep
    engine = whole.adjoint
    budget = 2 * engine.state_bytes(2, True) + 1  # two images per backward chunk, three forward
    chunked = QsimAttention(CFG, dtype=dtype, state_budget=budget)
    plan = chunked.plan(5, 2, True)
    assert not plan.keep and (plan.forward, plan.backward) == (
        budget // engine.state_bytes(2, False),
        2,
    )
    ref, got = _run(whole, tokens, params, weight), _run(chunked, tokens, params, weight)
    tol = 1e-5 if dtype == torch.complex64 else 1e-12
    np.testing.assert_array_equal(got[1], ref[1])
    for a, b in zip(got[:1] + got[2:], ref[:1] + ref[2:], strict=True):
        scale = max(1.0, float(np.abs(b).max()))
        np.testing.assert_allclose(a, b, rtol=0, atol=tol * scale)
    assert np.abs(ref[3]).max() > 1e-3 and np.abs(ref[4]).max() > 1e-3  # gradients not trivially 0


def test_chunked_simulated_prefix_path_equals_unchunked():
    """The qsim-simulated prefix (``prefix="simulate"``) with data gradients through the
    encoding sweep: ``forward`` keeps nothing when chunked and ``vjp`` recomputes per chunk."""
    tokens, params, weight = _inputs(3, seed=1)
    out = []
    for budget in (None, 1):  # the default, and one image per chunk
        kwargs = {} if budget is None else {"state_budget": budget}
        backend = QsimAttention(CFG, prefix="simulate", dtype=torch.complex128, **kwargs)
        from hqvit.runtime.encoding import data_bindings

        data = data_bindings(tokens).numpy()
        valid = ((tokens**2).sum(-1) > 0).numpy()
        states: list = []
        s, mask = backend.forward(data, params.numpy(), valid, states)
        assert (len(states) == 0) == (budget is not None)
        g_params, g_data = backend.vjp(data, params.numpy(), valid, weight.numpy(), True, states)
        out.append((s, mask, g_params, g_data))
    for a, b in zip(out[1], out[0], strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-10)
    assert np.abs(out[0][2]).max() > 1e-3 and np.abs(out[0][3]).max() > 1e-3
