"""Classical PTQ: the re-run block is the model's, quantized values take 2^B levels, RepQ's
layer-wise quantizer is exactly per-channel quantization, and many bits give the float model back."""

import pytest
import torch

from hqvit.compiler.hqvit import HQViTConfig
from hqvit.runtime.classical_quantization import (
    FIXED,
    LOG2,
    QuantizedViT,
    build_plan,
    calibrate,
    linear_layers,
    model_bytes,
    quantize_weight,
    repq_quantizer,
    softmax_quantizer,
    uniform_quantizer,
    weight_range,
)
from hqvit.runtime.model import ModelConfig, VisionTransformer
from hqvit.runtime.quant_settings import QuantSettings


@pytest.fixture(scope="module")
def model() -> VisionTransformer:
    """Two blocks, so a LayerNorm output feeds the next block's V as well as the MLP and the head."""
    torch.manual_seed(0)
    m = VisionTransformer(ModelConfig(HQViTConfig((8, 8), (4, 4)), blocks=2), backend="exact")
    return m.eval()


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    x = torch.rand(48, 8, 8, generator=g)
    x[:, :4, :4] = 0  # an all-zero patch: a masked token, as at MNIST borders
    return x


@pytest.fixture(scope="module")
def calibration(model, images):
    return calibrate(model, images[:32])


def test_without_a_plan_the_quantized_forward_is_the_model_bit_for_bit(model, images):
    with torch.no_grad():
        assert torch.equal(QuantizedViT(model)(images), model(images))


@pytest.mark.parametrize("bits", [2, 4, 6, 8, 12])
def test_quantized_weights_take_only_2_to_the_b_levels_per_channel(bits):
    w = torch.randn(24, 40, generator=torch.Generator().manual_seed(bits)) * torch.linspace(0.01, 3, 24)[:, None]
    codes, scales = quantize_weight(w, bits)
    lo, hi = weight_range(bits)
    assert int(codes.min()) >= lo and int(codes.max()) <= hi and hi - lo + 1 == 2**bits
    deq = codes.float() * scales[:, None]
    for row in deq:
        assert len(torch.unique(row)) <= 2**bits
    assert (deq - w).abs().max(dim=1).values.le(scales * 0.5 + 1e-6).all()  # round to nearest, no clipping


@pytest.mark.parametrize("bits", [2, 4, 8])
def test_activation_quantizers_take_only_2_to_the_b_levels(bits):
    x = torch.randn(5000, generator=torch.Generator().manual_seed(0)) * 3 + 1
    probs = torch.softmax(torch.randn(200, 16), -1)
    probs[:, 0] = 0  # a masked key
    for q, data in (
        (uniform_quantizer(x, bits), x),
        (softmax_quantizer(FIXED, bits), probs),
        (softmax_quantizer(LOG2, bits), probs),
    ):
        out, codes = q(data), q.codes(data)
        assert int(codes.min()) >= 0 and int(codes.max()) < 2**bits
        assert len(torch.unique(out)) <= 2**bits
    log2 = softmax_quantizer(LOG2, bits)
    assert torch.equal(log2(probs)[:, 0], torch.zeros(200))  # masked keys stay exactly 0
    levels = log2(probs)[:, 1:]
    assert torch.equal(torch.log2(levels), torch.round(torch.log2(levels)))  # powers of two


def test_repq_layerwise_quantizer_is_exactly_per_channel_quantization():
    """round(X'/s̃) + z̃ = round(X/s_c) + z_c: the layer-wise quantizer on the reparameterized X',
    mapped back (X'_q r1 − s r2), is torch's per-channel fake quantization of X (up to float
    rounding at exact ties), and the folded Linear (W diag(r1), b − W s r2) gives W X_q + b."""
    g = torch.Generator().manual_seed(2)
    x = torch.randn(4000, 16, generator=g) * torch.logspace(-1, 1, 16) + torch.linspace(-2, 2, 16)
    for bits in (4, 6, 8):
        q = repq_quantizer(x, bits)
        s, z = q.r1 * q.scale, q.shift / (q.r1 * q.scale) + q.zero_point  # per-channel (s_c, z_c)
        assert torch.allclose(z, torch.round(z), atol=1e-4)  # r2 are integers
        per_channel = torch.fake_quantize_per_channel_affine(x, s, torch.round(z).int(), 1, 0, 2**bits - 1)
        x_prime = (x + q.shift) / q.r1
        back = q(x_prime) * q.r1 - q.shift
        # the same integer code everywhere except, through float rounding, at exact .5 ties
        off = (back - per_channel).abs() > 1e-3 * s
        assert off.float().mean() < 1e-3
        assert ((back - per_channel).abs() <= 1.001 * s).all()  # and there by one step at most
        w, b = torch.randn(8, 16, generator=g), torch.randn(8, generator=g)
        folded = q(x_prime) @ (w * q.r1).T + (b - w @ q.shift)
        assert torch.allclose(folded, back @ w.T + b, atol=1e-4 * float(folded.abs().max()))


@pytest.mark.parametrize("ln", ["uniform", "repq"])
def test_many_bits_give_the_float_model_back(model, images, calibration, ln):
    """On the calibration images (no activation outside the calibrated ranges, so no clipping)."""
    seen = images[:32]
    with torch.no_grad():
        ref = model(seen)
        plan = build_plan(model, QuantSettings(weight_bits=16, act_bits=16, ln=ln), calibration)
        out = QuantizedViT(model, plan)(seen)
    assert (out - ref).abs().max() < 1e-3 * ref.abs().max()
    assert torch.equal(out.argmax(1), ref.argmax(1))


def test_few_bits_change_the_model_and_the_plan_covers_every_linear(model, images, calibration):
    settings = QuantSettings(weight_bits=2, act_bits=2, ln="repq", softmax="log2")
    plan = build_plan(model, settings, calibration)
    assert set(plan.linears) == set(linear_layers(model))
    assert all(ql.codes is not None for ql in plan.linears.values())
    with torch.no_grad():
        assert (QuantizedViT(model, plan)(images) - model(images)).abs().max() > 1e-2


def test_model_bytes_counts_packed_codes_and_scales(model, calibration):
    full = model_bytes(model, None)
    assert full == sum(t.numel() * t.element_size() for t in model.state_dict().values())
    plan = build_plan(model, QuantSettings(weight_bits=4), calibration)
    weights = {f"{n}.weight": m.weight for n, m in linear_layers(model).items()}
    saved = sum(w.numel() * 4 - (w.numel() * 4 + 7) // 8 - 4 * w.shape[0] for w in weights.values())
    assert model_bytes(model, plan) == full - saved
