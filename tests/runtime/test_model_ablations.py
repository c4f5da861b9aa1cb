"""The attention ablations of the model (runtime/model.py): ``uniform`` averages the valid tokens,
``frozen`` trains everything but the circuit's angles, and the parameter counts say so."""

from __future__ import annotations

import torch

from hqvit.compiler.hqvit import HQViTConfig
from hqvit.runtime.encoding import tokens_from_images
from hqvit.runtime.model import ModelConfig, UniformScores, VisionTransformer, parameter_counts

CIRCUIT = HQViTConfig((8, 8), (4, 4))


def _model(attention: str) -> VisionTransformer:
    torch.manual_seed(0)
    return VisionTransformer(ModelConfig(CIRCUIT, attention=attention), backend="exact").double()


def _images() -> torch.Tensor:
    x = torch.rand(3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    x[0, :4, :4] = 0.0  # one all-zero token: not a key
    return x


def test_uniform_attention_is_the_mean_of_the_valid_tokens_values():
    model = _model("uniform")
    block = model.blocks[0]
    assert isinstance(block.scores, UniformScores)
    x = tokens_from_images(_images(), CIRCUIT)
    valid = (x**2).sum(-1) > 0
    assert not valid.all()  # the dark token takes no weight
    v = block.v(x)
    mean = ((v * valid[..., None]).sum(1, keepdim=True) / valid.sum(1)[:, None, None]).expand_as(v)
    h = block.norm1(x + block.out(mean))
    torch.testing.assert_close(block(x), block.norm2(h + block.mlp(h)))


def test_frozen_attention_keeps_the_circuit_angles_and_trains_the_rest():
    model = _model("frozen")
    angles = model.blocks[0].scores.params.detach().clone()
    others = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    assert "blocks.0.scores.log_tau" in others and "blocks.0.scores.params" not in others
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    loss = torch.nn.functional.cross_entropy(model(_images()), torch.tensor([1, 2, 3]))
    loss.backward()
    opt.step()
    torch.testing.assert_close(model.blocks[0].scores.params, angles, rtol=0, atol=0)
    assert all(not torch.equal(p, others[n]) for n, p in model.named_parameters() if n in others)


def test_parameter_counts_tell_the_variants_apart():
    q, f, c, u = (parameter_counts(_model(a)) for a in ("quantum", "frozen", "classical", "uniform"))
    angles, heads = len(CIRCUIT.trainable_symbols()) * CIRCUIT.heads, CIRCUIT.heads
    assert q["attention_scores"] == angles + heads and q["frozen"] == 0
    assert f["attention_scores"] == heads and f["frozen"] == angles
    assert q["trainable"] - f["trainable"] == angles
    assert c["attention_scores"] == 16 * 32 and u["attention_scores"] == 0
    assert c["trainable"] - u["trainable"] == 16 * 32 and u["trainable"] + angles + heads == q["trainable"]


def test_the_command_line_offers_every_attention():
    from hqvit.cli.train import ATTENTION_CHOICES
    from hqvit.runtime.model import ATTENTIONS

    assert ATTENTION_CHOICES == ATTENTIONS
