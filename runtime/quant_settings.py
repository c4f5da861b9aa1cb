"""One quantization setting of a trained model: what is quantized, to how many bits, and how.

A field left at None stays in full precision. The ranges are checked here, once, with messages
that name the command-line argument, so the CLI repeats none of them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from hqvit.ir.errors import InputError
from hqvit.runtime.angle_quantization import ANGLE_MODES

CLASSICAL_BITS = (2, 16)  # integer codes up to int16; 1 bit leaves a symmetric grid without zero
ANGLE_BITS = (2, 32)  # interpolation needs neighbours less than π apart
LN_QUANTIZERS = ("uniform", "repq")  # post-LayerNorm activations: per-tensor, or RepQ-ViT's reparameterization
SOFTMAX_QUANTIZERS = ("uniform", "log2")  # post-softmax attention: uniform on [0, 1], or log2


@dataclass(frozen=True)
class QuantSettings:
    weight_bits: int | None = None  # every nn.Linear weight, per output channel, symmetric
    act_bits: int | None = None  # the inputs of every Linear and of the attention matmul
    ln: str = "uniform"  # quantizer of post-LayerNorm activations (with act_bits)
    softmax: str = "uniform"  # quantizer of the post-softmax attention (with act_bits)
    angle_bits: int | None = None  # every rotation angle of the compiled circuit, B bits of 2π
    angle_mode: str = "round"
    samples: int = 32  # interpolate: angle settings drawn per image and head
    seed: int = 0  # interpolate: the draws

    def validate(self) -> QuantSettings:
        for name, arg in (("weight_bits", "--weight-bits"), ("act_bits", "--act-bits")):
            check_bits(getattr(self, name), arg, CLASSICAL_BITS)
        check_bits(self.angle_bits, "--angle-bits", ANGLE_BITS)
        if self.ln not in LN_QUANTIZERS:
            raise InputError(f"--ln-quantizer must be one of {', '.join(LN_QUANTIZERS)}, got {self.ln!r}")
        if self.softmax not in SOFTMAX_QUANTIZERS:
            raise InputError(
                f"--softmax-quantizer must be one of {', '.join(SOFTMAX_QUANTIZERS)}, got {self.softmax!r}"
            )
        if self.angle_mode not in ANGLE_MODES:
            raise InputError(f"--angle-mode must be one of {', '.join(ANGLE_MODES)}, got {self.angle_mode!r}")
        if not isinstance(self.samples, int) or isinstance(self.samples, bool) or self.samples < 1:
            raise InputError(f"--samples must be an integer >= 1, got {self.samples!r}")
        return self

    @property
    def classical(self) -> bool:
        return self.weight_bits is not None or self.act_bits is not None

    def label(self) -> str:
        """Short name: W8A8 repq log2 angles8-round; 'full precision' when nothing is quantized."""
        parts = []
        if self.weight_bits is not None:
            parts.append(f"W{self.weight_bits}")
        if self.act_bits is not None:
            parts.append(f"A{self.act_bits}")
            parts += [q for q, on in (("repq", self.ln == "repq"), ("log2", self.softmax == "log2")) if on]
        if self.angle_bits is not None:
            parts.append(f"angles{self.angle_bits}-{self.angle_mode}")
        return " ".join(parts) or "full precision"

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(d: object, where: str) -> QuantSettings:
        """From a checkpoint's plain dict, which may come from anyone: one InputError if malformed."""
        known = {f.name for f in fields(QuantSettings)}
        if not isinstance(d, dict) or not set(d) <= known:
            raise InputError(f"{where}: field 'quantization.settings' is not a quantization setting")
        try:
            return QuantSettings(**d).validate()
        except (TypeError, InputError) as e:
            raise InputError(f"{where}: field 'quantization.settings' is invalid: {e}") from None


def check_bits(value: object, arg: str, bounds: tuple[int, int]) -> None:
    lo, hi = bounds
    if value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise InputError(f"{arg} must be integers in {lo}..{hi}, got {value!r}")


def parse_bits(text: str, arg: str, bounds: tuple[int, int]) -> list[int]:
    """``8,6,4`` -> [8, 6, 4]: integers in range, no duplicates, at least one; else one InputError
    naming ``arg``."""
    items = [x.strip() for x in text.split(",")]
    if not text.strip() or any(not x for x in items):
        raise InputError(f"{arg} must be a comma-separated list of integers like 8,6,4, got {text!r}")
    try:
        values = [int(x) for x in items]
    except ValueError:
        raise InputError(f"{arg} must be a comma-separated list of integers like 8,6,4, got {text!r}") from None
    for v in values:
        check_bits(v, arg, bounds)
    if len(set(values)) != len(values):
        raise InputError(f"{arg} lists a bit width twice: {text!r}")
    return values
