"""A quantized model as a whole: its angle backends, its checkpoint, and its evaluation.

A quantized checkpoint is a training checkpoint (same configs, history, epoch) whose ``model``
holds only the tensors that stay in floating point, plus ``quantization``: the setting, every
Linear's integer codes and per-channel scales (or float weights if weights are not quantized)
and bias, every activation quantizer's parameters, and, when angles are rounded, the trainable
angles as B-bit grid codes. It is plain data like every checkpoint (read with
``weights_only=True``) and is validated field by field on loading; the other commands refuse it
(``load_checkpoint``), ``hqvit evaluate`` runs it through ``evaluate_checkpoint``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from hqvit.ir.errors import InputError
from hqvit.runtime.angle_quantization import angle_codes, from_codes
from hqvit.runtime.checkpoint import load_checkpoint, save_atomic
from hqvit.runtime.classical_quantization import (
    LOG2,
    REPQ,
    ActQuant,
    QuantizedViT,
    QuantLinear,
    QuantPlan,
    dequantize_weight,
    linear_layers,
    model_bytes,
    weight_range,
)
from hqvit.runtime.model import ModelConfig, QuantumScores, VisionTransformer
from hqvit.runtime.quant_settings import QuantSettings
from hqvit.runtime.quantized_attention import QuantizedAngleAttention
from hqvit.runtime.train import accuracy, checkpoint_configs, evaluate, prepare, seed_everything

FORMAT = 1
ACT_KINDS = ("uniform", "repq", "fixed", LOG2)


def quantum_scores(model: VisionTransformer) -> list[QuantumScores]:
    return [b.scores for b in model.blocks if isinstance(b.scores, QuantumScores)]


@contextmanager
def quantized_angles(model: VisionTransformer, settings: QuantSettings) -> Iterator[list[QuantizedAngleAttention]]:
    """Every quantum block runs its compiled circuit with angles on the setting's grid (nothing
    changes if ``angle_bits`` is None); the model's own backends are restored afterwards."""
    if settings.angle_bits is None:
        yield []
        return
    from hqvit.compiler.pipeline import compile_hqvit

    modules = quantum_scores(model)
    saved = [m.qsim for m in modules]
    compiled = compile_hqvit(model.cfg.circuit)  # the circuit QsimAttention runs, compiled once
    backends = [
        QuantizedAngleAttention(
            model.cfg.circuit,
            settings.angle_bits,
            settings.angle_mode,
            settings.samples,
            settings.seed + 7 * k,
            compiled,
        )
        for k in range(len(modules))
    ]
    try:
        for m, backend in zip(modules, backends, strict=True):
            m.qsim = backend
        yield backends
    finally:
        for m, backend in zip(modules, saved, strict=True):
            m.qsim = backend


# -- saving ----------------------------------------------------------------------------------------
def _storage_codes(codes: torch.Tensor, bits: int) -> torch.Tensor:
    return codes.to(torch.int8 if bits <= 8 else torch.int16 if bits <= 16 else torch.int32)


def save_quantized(source: dict, model: VisionTransformer, plan: QuantPlan, path: Path) -> None:
    """Write the quantized model (``source``: the loaded training checkpoint it came from)."""
    settings = plan.settings
    state = model.state_dict()
    linears = {}
    for name, ql in plan.linears.items():
        state.pop(f"{name}.weight")
        state.pop(f"{name}.bias", None)
        entry = {"bias": None if ql.bias is None else ql.bias.clone()}
        if ql.codes is not None:
            entry.update(codes=_storage_codes(ql.codes, ql.bits), scales=ql.scales.clone())
        else:
            entry.update(weight=ql.weight.clone())
        linears[name] = entry
    acts = {
        point: {
            "kind": q.kind,
            "bits": q.bits,
            "scale": q.scale,
            "zero_point": q.zero_point,
            "r1": None if q.r1 is None else q.r1.clone(),
            "shift": None if q.shift is None else q.shift.clone(),
        }
        for point, q in plan.acts.items()
    }
    angles = {}
    if settings.angle_bits is not None and settings.angle_mode == "round":
        for name in [n for n in state if n.endswith("scores.params")]:
            codes = angle_codes(state.pop(name).numpy(), settings.angle_bits)
            angles[name] = torch.from_numpy(codes).to(torch.int32)
    quantization = {"format": FORMAT, "settings": settings.to_dict(), "linears": linears, "acts": acts}
    quantization["angle_codes"] = angles
    quantization["model_bytes"] = model_bytes(model, plan)
    keep = ("train_config", "model_config", "epoch", "history")
    save_atomic({**{k: source[k] for k in keep if k in source}, "model": state, "quantization": quantization}, path)


# -- loading ---------------------------------------------------------------------------------------
def _tensor(value: object, where: str, dtype_kind: str) -> torch.Tensor:
    ok = isinstance(value, torch.Tensor) and (
        value.is_floating_point() if dtype_kind == "float" else not value.is_floating_point()
    )
    if not ok:
        raise InputError(f"{where} must be a {dtype_kind} tensor")
    if dtype_kind == "float" and not bool(torch.isfinite(value).all()):
        raise InputError(f"{where} has non-finite values")
    return value


def _linear_from(entry: object, layer: torch.nn.Linear, bits: int | None, where: str) -> QuantLinear:
    if not isinstance(entry, dict):
        raise InputError(f"{where} is not a quantized Linear")
    shape = tuple(layer.weight.shape)
    bias = None
    if entry.get("bias") is not None:
        bias = _tensor(entry["bias"], f"{where}.bias", "float").float()
        if tuple(bias.shape) != shape[:1]:
            raise InputError(f"{where}.bias has shape {tuple(bias.shape)}, the model needs {shape[:1]}")
    if bits is None:
        weight = _tensor(entry.get("weight"), f"{where}.weight", "float").float()
        if tuple(weight.shape) != shape:
            raise InputError(f"{where}.weight has shape {tuple(weight.shape)}, the model needs {shape}")
        return QuantLinear(weight, bias)
    codes = _tensor(entry.get("codes"), f"{where}.codes", "integer").to(torch.int32)
    scales = _tensor(entry.get("scales"), f"{where}.scales", "float").float()
    lo, hi = weight_range(bits)
    if tuple(codes.shape) != shape or tuple(scales.shape) != shape[:1]:
        raise InputError(f"{where}: codes {tuple(codes.shape)} / scales {tuple(scales.shape)} do not fit {shape}")
    if codes.numel() and not (lo <= int(codes.min()) and int(codes.max()) <= hi):
        raise InputError(f"{where}.codes lie outside the {bits}-bit range {lo}..{hi}")
    if not bool((scales > 0).all()):
        raise InputError(f"{where}.scales must be positive")
    return QuantLinear(dequantize_weight(codes, scales), bias, codes, scales, bits)


def _act_from(entry: object, d: int, bits: int, where: str) -> ActQuant:
    if not isinstance(entry, dict) or entry.get("kind") not in ACT_KINDS:
        raise InputError(f"{where} is not an activation quantizer (kind one of {', '.join(ACT_KINDS)})")
    scale, zero = entry.get("scale"), entry.get("zero_point")
    if entry.get("bits") != bits:
        raise InputError(f"{where}.bits is {entry.get('bits')!r}, the setting says {bits}")
    if not isinstance(scale, float) or not scale > 0 or scale == float("inf"):
        raise InputError(f"{where}.scale must be a finite number > 0")
    if not isinstance(zero, int) or not 0 <= zero < (1 << bits):
        raise InputError(f"{where}.zero_point must be an integer in 0..{(1 << bits) - 1}")
    q = ActQuant(entry["kind"], bits, scale, zero)
    if q.kind == REPQ:
        q.r1 = _tensor(entry.get("r1"), f"{where}.r1", "float").float()
        q.shift = _tensor(entry.get("shift"), f"{where}.shift", "float").float()
        if q.r1.shape != (d,) or q.shift.shape != (d,) or not bool((q.r1 > 0).all()):
            raise InputError(f"{where}: r1 and shift must be {d} values, r1 positive")
    return q


def restore_quantized(ckpt: dict, mcfg: ModelConfig, path: str | Path, **model_kwargs) -> tuple:
    """(model, plan) from a loaded quantized checkpoint; every field checked, one InputError."""
    where = f"checkpoint {path}: field 'quantization"
    qz = ckpt["quantization"]
    if not isinstance(qz, dict) or qz.get("format") != FORMAT:
        raise InputError(f"{where}' is not a quantization record of format {FORMAT}")
    settings = QuantSettings.from_dict(qz.get("settings"), f"checkpoint {path}")
    if mcfg.attention != "quantum":
        raise InputError(f"{where}' belongs to a classical-attention model, which hqvit quantize does not produce")
    model = VisionTransformer(mcfg, **model_kwargs)
    layers = linear_layers(model)
    linears, acts, angles = qz.get("linears"), qz.get("acts"), qz.get("angle_codes")
    if not isinstance(linears, dict) or set(linears) != set(layers):
        raise InputError(f"{where}.linears' must hold exactly the model's Linear layers {sorted(layers)}")
    if not isinstance(acts, dict) or not isinstance(angles, dict):
        raise InputError(f"{where}.acts' and '.angle_codes' must be dicts")
    plan = QuantPlan(settings)
    for name, layer in layers.items():
        plan.linears[name] = _linear_from(linears[name], layer, settings.weight_bits, f"{where}.linears.{name}'")
    d = mcfg.circuit.features
    if settings.act_bits is None and acts:
        raise InputError(f"{where}.acts' is not empty but the setting quantizes no activations")
    for point, entry in acts.items():
        plan.acts[str(point)] = _act_from(entry, d, settings.act_bits, f"{where}.acts.{point}'")
    state = dict(ckpt["model"]) if isinstance(ckpt["model"], dict) else None
    if state is None:
        raise InputError(f"checkpoint {path}: field 'model' is not a state dict")
    for name, codes in angles.items():
        codes = _tensor(codes, f"{where}.angle_codes.{name}'", "integer")
        if (
            settings.angle_bits is None
            or codes.numel()
            and not 0 <= int(codes.min()) <= int(codes.max()) < (1 << settings.angle_bits)
        ):
            raise InputError(f"{where}.angle_codes.{name}' lie outside the {settings.angle_bits}-bit grid")
        state[name] = torch.from_numpy(from_codes(codes.numpy(), settings.angle_bits))
    removed = {f"{n}.{p}" for n in layers for p in ("weight", "bias")}
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except (RuntimeError, TypeError) as e:
        first = str(e).strip().splitlines()[0]
        raise InputError(f"checkpoint {path}: the weights do not fit its model_config: {first}") from None
    if unexpected or set(missing) - removed:
        raise InputError(f"checkpoint {path}: field 'model' lacks {sorted(set(missing) - removed)[:3]} or has extra")
    _fill_linears(model, plan)
    return model, plan


def _fill_linears(model: VisionTransformer, plan: QuantPlan) -> None:
    """Give the model's own Linears the dequantized weights (a RepQ fold undone), so the model
    object is consistent; the quantized forward reads the plan."""
    with torch.no_grad():
        for name, layer in linear_layers(model).items():
            ql, q = plan.linears[name], plan.acts.get(name)
            w, b = ql.weight, ql.bias
            if q is not None and q.kind == REPQ:
                reps = w.shape[1] // q.r1.numel()
                w = w / q.r1.repeat(reps)[None, :]
                b = (torch.zeros(w.shape[0]) if b is None else b) + w @ q.shift.repeat(reps)
            layer.weight.copy_(w)
            if layer.bias is not None and b is not None:
                layer.bias.copy_(b)


def evaluate_checkpoint(path: str, backend: str | None = None) -> dict:
    """``hqvit evaluate``: a training checkpoint as before, a quantized one with its quantizers."""
    ckpt = load_checkpoint(path, quantized=True)
    if "quantization" not in ckpt:
        return evaluate(path, backend=backend)
    cfg, mcfg = checkpoint_configs(ckpt, path)
    backend = backend or cfg.backend
    model, plan = restore_quantized(ckpt, mcfg, path, backend=backend, seed=cfg.seed)
    settings = plan.settings
    if settings.angle_bits is not None and backend != "qsim":
        raise InputError(
            f"--backend {backend} computes S in closed form and cannot apply the checkpoint's "
            f"{settings.angle_bits}-bit angles; use --backend qsim"
        )
    seed_everything(cfg.seed)
    ds, _, te = prepare(cfg)
    t0 = time.perf_counter()
    with quantized_angles(model, settings):
        acc = accuracy(QuantizedViT(model, plan), ds.images[te], ds.labels[te])
    return {
        "checkpoint": str(path),
        "dataset": cfg.dataset,
        "backend": backend,
        "epoch": ckpt["epoch"],
        "test_samples": len(te),
        "test_accuracy": acc,
        "quantization": settings.label(),
        "model_bytes": model_bytes(model, plan),
        "seconds": round(time.perf_counter() - t0, 3),
    }
