"""The HQViT classifier and its classical twin.

Per block: scores S (B, H, T, T) -> softmax(S / tau) over the valid keys -> A V -> output
projection -> residual + LayerNorm -> MLP -> residual + LayerNorm. Tokens are the raw patches
(d = P*P features), as the quantum encoding needs; there is no positional embedding (the
amplitude encoding's index register carries position). The head flattens the T x d tokens.
The only difference between the models is where S comes from: the HQViT circuit (qsim or its
closed form; ``quantum``), standard scaled dot-product attention (``classical``), and two
ablations: ``uniform`` (every score equal, so each token averages the valid tokens: what the
model does with no attention at all) and ``frozen`` (the HQViT circuit with U_Q and U_K kept at
their random initial angles: what the quantum scores give without training them).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from hqvit.compiler.hqvit import HQViTConfig
from hqvit.runtime.encoding import tokens_from_images
from hqvit.runtime.exact import exact_attention
from hqvit.runtime.qsim_backend import QsimOptions
from hqvit.runtime.quantum_attention import QsimAttention, qsim_attention

ATTENTIONS = ("quantum", "classical", "uniform", "frozen")
QUANTUM_ATTENTIONS = ("quantum", "frozen")  # the ones that run the circuit
BACKENDS = ("qsim", "exact")


@dataclass(frozen=True)
class ModelConfig:
    circuit: HQViTConfig
    classes: int = 10
    blocks: int = 1
    mlp_ratio: int = 4
    attention: str = "quantum"
    temperature: float = 0.1  # initial softmax temperature for quantum scores (S lies in [0, 1])

    def to_dict(self) -> dict:
        d = asdict(self)
        d["circuit"] = self.circuit.to_dict()
        return d

    @staticmethod
    def from_dict(d: dict) -> ModelConfig:
        d = dict(d)
        d["circuit"] = HQViTConfig.from_dict(d["circuit"])
        return ModelConfig(**d)


class QuantumScores(nn.Module):
    """S from the HQViT circuit; one (U_Q, U_K) parameter row per head."""

    def __init__(
        self,
        cfg: HQViTConfig,
        backend: str,
        shots: int | None = None,
        seed: int = 0,
        gradient: str = "adjoint",
        threads: int = 1,
    ):
        super().__init__()
        self.cfg = cfg
        self.gradient, self.threads = gradient, threads
        n = len(cfg.trainable_symbols())
        self.params = nn.Parameter(torch.empty(cfg.heads, n, dtype=torch.float64).uniform_(-math.pi, math.pi))
        self.log_tau = nn.Parameter(torch.full((cfg.heads,), 0.0))
        self.set_backend(backend, shots, seed)

    def set_backend(self, backend: str, shots: int | None = None, seed: int = 0) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        self.backend = backend
        self.qsim = None
        if backend == "qsim":
            options = QsimOptions(threads=self.threads)
            self.qsim = QsimAttention(self.cfg, shots=shots, seed=seed, options=options, gradient=self.gradient)

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.qsim is not None:
            s, mask = qsim_attention(tokens, self.params, self.qsim)
        else:
            s, mask = exact_attention(tokens, self.params, self.cfg)
        return s.to(tokens.dtype), mask


class UniformScores(nn.Module):
    """All scores zero over the keys the quantum scores attend to (tokens with any nonzero pixel),
    so softmax gives each valid key the same weight."""

    def __init__(self, heads: int):
        super().__init__()
        self.heads = heads

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, t, _ = tokens.shape
        valid = (tokens.detach() ** 2).sum(-1) > 0
        return tokens.new_zeros(b, self.heads, t, t), valid


class ClassicalScores(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qk = nn.Linear(dim, 2 * dim, bias=False)

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, t, d = tokens.shape
        q, k = self.qk(tokens).reshape(b, t, 2, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        s = q @ k.transpose(-1, -2) / math.sqrt(d // self.heads)
        return s, torch.ones(b, t, dtype=torch.bool)


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: int, scores: nn.Module, temperature: float | None):
        super().__init__()
        self.heads = heads
        self.scores = scores
        self.scale = None if temperature is None else math.log(1.0 / temperature)
        self.v = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)
        self.norm1 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_ratio * dim), nn.GELU(), nn.Linear(mlp_ratio * dim, dim))
        self.norm2 = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        s, mask = self.scores(x)
        if self.scale is not None:  # quantum scores: learnable temperature per head
            s = s * torch.exp(self.scale - self.scores.log_tau)[None, :, None, None]
        s = s.masked_fill(~mask[:, None, None, :], float("-inf"))
        attn = torch.softmax(s, dim=-1)
        v = self.v(x).reshape(b, t, self.heads, d // self.heads).transpose(1, 2)
        y = (attn @ v).transpose(1, 2).reshape(b, t, d)
        x = self.norm1(x + self.out(y))
        return self.norm2(x + self.mlp(x))


class VisionTransformer(nn.Module):
    def __init__(
        self,
        cfg: ModelConfig,
        backend: str = "exact",
        shots: int | None = None,
        seed: int = 0,
        gradient: str = "adjoint",
        threads: int = 1,
    ):
        """``gradient`` (adjoint | shift) and ``threads`` (qsim's) apply to the qsim backend."""
        super().__init__()
        self.cfg = cfg
        c = cfg.circuit
        dim = c.features
        if cfg.attention not in ATTENTIONS:
            raise ValueError(f"attention must be one of {ATTENTIONS}, got {cfg.attention!r}")
        if dim % c.heads:
            raise ValueError(f"{c.heads} heads do not divide the token dimension {dim}")
        blocks = []
        for _ in range(cfg.blocks):
            if cfg.attention in QUANTUM_ATTENTIONS:
                scores, temp = QuantumScores(c, backend, shots, seed, gradient, threads), cfg.temperature
                scores.params.requires_grad_(cfg.attention == "quantum")  # frozen: U_Q, U_K stay at init
            elif cfg.attention == "uniform":
                scores, temp = UniformScores(c.heads), None
            else:
                scores, temp = ClassicalScores(dim, c.heads), None
            blocks.append(Block(dim, c.heads, cfg.mlp_ratio, scores, temp))
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Linear(c.tokens * dim, cfg.classes)

    def set_backend(self, backend: str, shots: int | None = None, seed: int = 0) -> None:
        for block in self.blocks:
            if isinstance(block.scores, QuantumScores):
                block.scores.set_backend(backend, shots, seed)

    def use_noise(self, compiled, trajectories: int, seed: int = 0) -> None:
        """Run every quantum block on ``compiled`` under its target's calibrated noise (trajectories);
        gradients by the parameter-shift rule on the noisy circuit."""
        from hqvit.runtime.noisy_attention import NoisyAttention

        for k, block in enumerate(self.blocks):
            if isinstance(block.scores, QuantumScores):
                backend = NoisyAttention(self.cfg.circuit, compiled, 1.0, trajectories, None, seed + 7 * k)
                backend.recording = False
                block.scores.qsim = backend

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = tokens_from_images(images, self.cfg.circuit)
        for block in self.blocks:
            x = block(x)
        return self.head(x.flatten(1))


def parameter_counts(model: VisionTransformer) -> dict[str, int]:
    """Trainable parameters in all, in the attention scores (the quantum angles and temperatures,
    or the classical Q/K projections), and frozen ones (the ``frozen`` ablation's angles)."""
    params = list(model.parameters())
    score_params = [p for b in model.blocks for p in b.scores.parameters()]
    return {
        "trainable": sum(p.numel() for p in params if p.requires_grad),
        "attention_scores": sum(p.numel() for p in score_params if p.requires_grad),
        "frozen": sum(p.numel() for p in params if not p.requires_grad),
    }


def quantum_backends(model: VisionTransformer) -> list[QsimAttention]:
    return [b.scores.qsim for b in model.blocks if isinstance(b.scores, QuantumScores) and b.scores.qsim is not None]
