"""Post-training quantization of the classical layers: per-channel weights, calibrated activations,
and the two ViT-specific activation quantizers (RepQ-ViT's LayerNorm reparameterization, log2
post-softmax attention), simulated by fake quantization.

What is quantized (``QuantSettings``): every ``nn.Linear`` weight (V, output projection, MLP,
head) per output channel, symmetric, 2^B integer levels; the input of every Linear, the values V
and the post-softmax attention A (the inputs of both matmuls) per tensor with B-bit codes.
Biases, LayerNorm parameters, the softmax temperature and the residual adds stay in float32, as
in integer ViT deployments; the quantum scores S are the circuit's (angle quantization is
``hqvit.runtime.quantized_attention``) and the amplitude encoding reads the float tokens.

PyTorch's tooling where it fits: the scales and zero points come from
``torch.ao.quantization`` observers (``PerChannelMinMaxObserver`` for weights and for RepQ's
channel statistics, ``MinMaxObserver`` for activations, ``FixedQParamsObserver`` for the uniform
softmax range [0, 1]) and the rounding is ``torch.fake_quantize_per_{channel,tensor}_affine``.
Not used: (1) PyTorch's integer kernels and ``convert``: they exist for 8 bits only (quint8 /
qint8), so 6- and 4-bit settings could not run, and there is no log2 quantizer; fake
quantization computes the same integers and dequantizes them, so the accuracy is the integer
model's up to float accumulation. (2) ``HistogramObserver``: its range search assumes 2^(dtype
bits) output bins (256 for quint8, whatever quant_max is), so at 6 or 4 bits it would optimize
the range for the wrong grid. (3) ``prepare``/``convert`` module swapping: the HQViT block has
no module for the softmax output or the A·V matmul, and RepQ must see the LayerNorm's input, so
the block is re-run here (``QuantizedViT._block``, checked bit for bit against ``Block.forward``
when nothing is quantized).

RepQ-ViT (Li et al., ICCV 2023) for post-LayerNorm activations X, which vary strongly between
channels: calibrate per-channel (s_c, z_c), take the layer-wise s̃ = mean(s), z̃ = round(mean(z)),
r1 = s / s̃, r2 = z − z̃ (integers), and fold: the LayerNorm emits X' = (X + s⊙r2) / r1 (affine
γ' = γ / r1, β' = (β + s⊙r2) / r1) and the consuming Linear takes W' = W·diag(r1),
b' = b − W (s⊙r2). Then round(X'/s̃) + z̃ = round(X/s_c) + z_c channel by channel, so one
layer-wise quantizer on X' gives exactly the per-channel quantization of X, and
W' X'_q + b' = W X_q + b; what changes is that the weight quantizer sees W·diag(r1). This model
is post-norm (the LayerNorm output is also the residual stream and, in the next block, the
amplitude-encoded input), so X itself is kept alongside X' (2·d more float parameters per
folded LayerNorm, counted in the model size).

Log2 for the post-softmax attention (FQ-ViT, RepQ-ViT's log√2): A_q = 2^(−q), q =
clamp(round(−log2 A), 0, 2^B − 1); masked keys (A = 0, known from the token mask) stay 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.ao.quantization import FixedQParamsObserver, MinMaxObserver, PerChannelMinMaxObserver

from hqvit.runtime.encoding import tokens_from_images
from hqvit.runtime.model import VisionTransformer
from hqvit.runtime.quant_settings import QuantSettings

UNIFORM, REPQ, FIXED, LOG2 = "uniform", "repq", "fixed", "log2"


def _dtype(bits: int, signed: bool) -> torch.dtype:
    if bits <= 8:
        return torch.qint8 if signed else torch.quint8
    return torch.qint32


def weight_range(bits: int) -> tuple[int, int]:
    """Signed B-bit codes: 2^B levels."""
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def quantize_weight(w: torch.Tensor, bits: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-output-channel symmetric quantization -> (integer codes (out, in) int32, scales (out,))."""
    qmin, qmax = weight_range(bits)
    obs = PerChannelMinMaxObserver(
        ch_axis=0, dtype=_dtype(bits, True), qscheme=torch.per_channel_symmetric, quant_min=qmin, quant_max=qmax
    )
    w = w.detach().float()
    obs(w)
    scale, zero = obs.calculate_qparams()
    fq = torch.fake_quantize_per_channel_affine(w, scale.float(), zero.int(), 0, qmin, qmax)
    return torch.round(fq / scale[:, None]).to(torch.int32), scale.float()


def dequantize_weight(codes: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return codes.float() * scale[:, None]


@dataclass
class ActQuant:
    """One activation quantizer. ``uniform`` / ``fixed``: per tensor, codes 0 .. 2^B − 1 with
    (scale, zero_point); ``repq``: the same on the reparameterized X' (r1, shift = s⊙r2 per
    channel); ``log2``: 2^(−q), q in 0 .. 2^B − 1, zeros kept."""

    kind: str
    bits: int
    scale: float = 1.0
    zero_point: int = 0
    r1: torch.Tensor | None = None
    shift: torch.Tensor | None = None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        top = (1 << self.bits) - 1
        if self.kind == LOG2:
            q = torch.clamp(torch.round(-torch.log2(x.clamp_min(torch.finfo(x.dtype).tiny))), 0, top)
            return torch.where(x > 0, torch.exp2(-q), torch.zeros_like(x))
        return torch.fake_quantize_per_tensor_affine(x, self.scale, self.zero_point, 0, top)

    def codes(self, x: torch.Tensor) -> torch.Tensor:
        """The integer codes ``__call__`` dequantizes (for tests and for counting levels)."""
        top = (1 << self.bits) - 1
        if self.kind == LOG2:
            return torch.clamp(torch.round(-torch.log2(x.clamp_min(torch.finfo(x.dtype).tiny))), 0, top).long()
        return torch.clamp(torch.round(x / self.scale) + self.zero_point, 0, top).long()


def uniform_quantizer(x: torch.Tensor, bits: int) -> ActQuant:
    obs = MinMaxObserver(dtype=_dtype(bits, False), quant_min=0, quant_max=(1 << bits) - 1)
    obs(x.detach().float())
    scale, zero = obs.calculate_qparams()
    return ActQuant(UNIFORM, bits, float(scale), int(zero))


def softmax_quantizer(kind: str, bits: int) -> ActQuant:
    if kind == LOG2:
        return ActQuant(LOG2, bits)
    top = (1 << bits) - 1
    obs = FixedQParamsObserver(scale=1.0 / top, zero_point=0, dtype=_dtype(bits, False), quant_min=0, quant_max=top)
    scale, zero = obs.calculate_qparams()
    return ActQuant(FIXED, bits, float(scale), int(zero))


def repq_quantizer(x: torch.Tensor, bits: int) -> ActQuant:
    """``x`` (N, d) post-LayerNorm activations -> the layer-wise quantizer of the reparameterized
    X' with its fold (r1, shift); see the module docstring."""
    top = (1 << bits) - 1
    obs = PerChannelMinMaxObserver(
        ch_axis=1, dtype=_dtype(bits, False), qscheme=torch.per_channel_affine, quant_min=0, quant_max=top
    )
    obs(x.detach().float())
    s, z = obs.calculate_qparams()
    s, z = s.float(), z.float()
    s_mean, z_mean = s.mean(), torch.round(z.mean())
    r1, r2 = s / s_mean, z - z_mean
    return ActQuant(REPQ, bits, float(s_mean), int(z_mean), r1=r1, shift=s * r2)


@dataclass
class QuantLinear:
    """A Linear as the quantized model runs it: (possibly folded) dequantized weight and bias,
    with the integer codes and per-channel scales they come from (None if not quantized)."""

    weight: torch.Tensor
    bias: torch.Tensor | None
    codes: torch.Tensor | None = None
    scales: torch.Tensor | None = None
    bits: int | None = None


@dataclass
class QuantPlan:
    settings: QuantSettings
    linears: dict[str, QuantLinear] = field(default_factory=dict)
    acts: dict[str, ActQuant] = field(default_factory=dict)


def linear_layers(model: VisionTransformer) -> dict[str, nn.Linear]:
    return {name: m for name, m in model.named_modules() if isinstance(m, nn.Linear)}


def activation_points(model: VisionTransformer) -> dict[str, str]:
    """Every quantized activation and its kind: 'plain', 'ln' (a LayerNorm output) or 'softmax'.
    A point named like a Linear is that Linear's input."""
    points = {}
    for k in range(len(model.blocks)):
        pre = f"blocks.{k}"
        points[f"{pre}.v"] = "ln" if k > 0 else "plain"  # block 0 reads the image tokens
        points[f"{pre}.vout"] = "plain"
        points[f"{pre}.attn"] = "softmax"
        points[f"{pre}.out"] = "plain"
        points[f"{pre}.mlp.0"] = "ln"
        points[f"{pre}.mlp.2"] = "plain"
    points["head"] = "ln"
    return points


class QuantizedViT(nn.Module):
    """A trained ``VisionTransformer`` run with a ``QuantPlan`` (None: full precision, identical
    to the model's own forward). ``trace`` (a list, when set) receives per block and batch the
    raw scores S, the token mask and the (quantized) post-softmax attention A; ``record`` (a
    dict, when set) receives every activation point's full-precision input, for calibration."""

    def __init__(self, model: VisionTransformer, plan: QuantPlan | None = None):
        super().__init__()
        self.model = model
        self.plan = plan
        self.trace: list[dict] | None = None
        self.record: dict[str, list[torch.Tensor]] | None = None

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        cfg = self.model.cfg.circuit
        x = tokens_from_images(images, cfg)
        ln_source = None
        for k, block in enumerate(self.model.blocks):
            x, ln_source = self._block(k, block, x, ln_source)
        return self._linear("head", self.model.head, x.flatten(1), ln_source)

    def _block(self, k: int, block: nn.Module, x: torch.Tensor, ln_source) -> tuple[torch.Tensor, tuple]:
        """``Block.forward`` with the quantizers in place; returns the block output and the
        (input, module) of its last LayerNorm for a RepQ-folded consumer."""
        b, t, d = x.shape
        pre = f"blocks.{k}"
        s, mask = block.scores(x)
        raw = s
        if block.scale is not None:
            s = s * torch.exp(block.scale - block.scores.log_tau)[None, :, None, None]
        s = s.masked_fill(~mask[:, None, None, :], float("-inf"))
        attn = self._act(f"{pre}.attn", torch.softmax(s, dim=-1))
        if self.trace is not None:
            self.trace.append({"block": k, "s": raw.detach(), "mask": mask, "attn": attn.detach()})
        v = self._act(f"{pre}.vout", self._linear(f"{pre}.v", block.v, x, ln_source))
        v = v.reshape(b, t, block.heads, d // block.heads).transpose(1, 2)
        y = (attn @ v).transpose(1, 2).reshape(b, t, d)
        z1 = x + self._linear(f"{pre}.out", block.out, y)
        x1 = block.norm1(z1)
        h = block.mlp[1](self._linear(f"{pre}.mlp.0", block.mlp[0], x1, (z1, block.norm1)))
        z2 = x1 + self._linear(f"{pre}.mlp.2", block.mlp[2], h)
        return block.norm2(z2), (z2, block.norm2)

    def _act(self, point: str, x: torch.Tensor) -> torch.Tensor:
        if self.record is not None:
            self.record.setdefault(point, []).append(x.detach())
        q = self.plan.acts.get(point) if self.plan is not None else None
        return x if q is None else q(x)

    def _linear(self, name: str, module: nn.Linear, x: torch.Tensor, ln_source=None) -> torch.Tensor:
        q = self.plan.acts.get(name) if self.plan is not None else None
        if self.record is not None:
            self.record.setdefault(name, []).append(x.detach())
        if q is not None and q.kind == REPQ:
            z, norm = ln_source  # the folded LayerNorm emits X' = LN'(z) for this consumer
            gamma, beta = norm.weight / q.r1, (norm.bias + q.shift) / q.r1
            x = q(F.layer_norm(z, norm.normalized_shape, gamma, beta, norm.eps).reshape(x.shape))
        elif q is not None:
            x = q(x)
        if self.plan is not None and name in self.plan.linears:
            ql = self.plan.linears[name]
            return F.linear(x, ql.weight, ql.bias)
        return module(x)


def calibrate(model: VisionTransformer, images: torch.Tensor, batch: int = 256) -> dict[str, torch.Tensor]:
    """Full-precision activations of every point over the calibration images: (N, channels) for
    LayerNorm points (channels = the d features, also for the flattened head input), flat otherwise."""
    qvit = QuantizedViT(model)
    qvit.record = {}
    model.eval()
    with torch.no_grad():
        for start in range(0, len(images), batch):
            qvit(images[start : start + batch])
    d = model.cfg.circuit.features
    kinds = activation_points(model)
    out = {}
    for point, chunks in qvit.record.items():
        x = torch.cat([c.reshape(-1, d) if kinds[point] == "ln" else c.reshape(-1) for c in chunks])
        out[point] = x
    return out


def build_plan(model: VisionTransformer, settings: QuantSettings, calibration: dict[str, torch.Tensor]) -> QuantPlan:
    """Activation quantizers from the calibration statistics, then the weights (folded by RepQ
    where a Linear reads a reparameterized LayerNorm output) quantized per output channel."""
    plan = QuantPlan(settings)
    if settings.act_bits is not None:
        bits = settings.act_bits
        for point, kind in activation_points(model).items():
            if kind == "softmax":
                plan.acts[point] = softmax_quantizer(LOG2 if settings.softmax == "log2" else FIXED, bits)
            elif kind == "ln" and settings.ln == "repq":
                plan.acts[point] = repq_quantizer(calibration[point], bits)
            else:
                plan.acts[point] = uniform_quantizer(calibration[point], bits)
    tokens = model.cfg.circuit.tokens
    for name, layer in linear_layers(model).items():
        w, b = layer.weight.detach().float(), None if layer.bias is None else layer.bias.detach().float()
        q = plan.acts.get(name)
        if q is not None and q.kind == REPQ:
            reps = w.shape[1] // q.r1.numel()  # the head reads T tokens of d features: tile
            if reps not in (1, tokens) or reps * q.r1.numel() != w.shape[1]:
                raise ValueError(f"{name}: {w.shape[1]} inputs do not fit {q.r1.numel()} LayerNorm channels")
            r1, shift = q.r1.repeat(reps), q.shift.repeat(reps)
            b = (torch.zeros(w.shape[0]) if b is None else b) - w @ shift
            w = w * r1[None, :]
        if settings.weight_bits is None:
            plan.linears[name] = QuantLinear(w, b)
        else:
            codes, scales = quantize_weight(w, settings.weight_bits)
            plan.linears[name] = QuantLinear(dequantize_weight(codes, scales), b, codes, scales, settings.weight_bits)
    return plan


def model_bytes(model: VisionTransformer, plan: QuantPlan | None) -> int:
    """Bytes to store the model as quantized: B-bit weight codes (bit-packed) with one float32
    scale per output channel; float tensors at their own width (biases, LayerNorm, temperature;
    the angles are float64 unless rounded to B bits); 8 bytes (scale, zero point) per uniform
    activation quantizer, nothing for the fixed-range ones; a RepQ fold adds the folded
    LayerNorm's 2·d floats (the original stays: this model is post-norm)."""
    settings = plan.settings if plan is not None else QuantSettings()
    quantized = {f"{n}.weight" for n, ql in (plan.linears.items() if plan else ()) if ql.codes is not None}
    total = 0
    for name, tensor in model.state_dict().items():
        if name in quantized:
            total += math.ceil(tensor.numel() * settings.weight_bits / 8) + 4 * tensor.shape[0]
        elif name.endswith("scores.params") and settings.angle_bits is not None and settings.angle_mode == "round":
            total += math.ceil(tensor.numel() * settings.angle_bits / 8)
        else:
            total += tensor.numel() * tensor.element_size()
    for q in plan.acts.values() if plan else ():
        if q.kind in (UNIFORM, REPQ):
            total += 8
        if q.kind == REPQ:
            total += 2 * 4 * q.r1.numel()
    return total
