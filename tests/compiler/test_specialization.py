"""A compile specialized to a data set (``compile_hqvit(..., specialization=...)``): on every path
the compiled circuit, bound with the specialized angles of an admitted image, prepares the same
state as the full logical circuit bound with the image's own angles (layouts included), it costs
fewer rotations and two-qubit gates, and an image outside the specialization is refused."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from hqvit.compiler.hqvit import HQViTConfig, build_attention_circuit
from hqvit.compiler.pipeline import CompiledCircuit, compile_hqvit
from hqvit.ir.circuit import compact, without_measurements
from hqvit.ir.errors import InputError
from hqvit.ir.metrics import gate_counts
from hqvit.passes.lower import lower
from hqvit.runtime.encoding import data_bindings, dataset_specialization, tokens_from_images
from hqvit.runtime.verify import _product_state, _state, layout_equivalence_error
from hqvit.targets import resolve_target

CFG = HQViTConfig((8, 8), (4, 4))


def _images(seed: int, count: int) -> torch.Tensor:
    """8x8 images with a dark bottom-right patch and a dark top row: whole subtrees are zero."""
    x = torch.as_tensor(np.random.default_rng(seed).uniform(0, 1, (count, 8, 8)))
    x[:, 4:, 4:] = 0.0
    x[:, 0, :] = 0.0
    return x


SPEC = dataset_specialization(_images(0, 30), CFG, "synthetic")


@functools.cache
def _compiled(target: str | None, opt: int, specialized: bool) -> CompiledCircuit:
    t = resolve_target(target) if target else None
    return compile_hqvit(CFG, t, opt=opt, specialization=SPEC if specialized else None)


def _bound(circuit, data: np.ndarray, trainable: dict[str, float]) -> dict[str, float]:
    return dict(zip(circuit.symbols_of_kind("data"), data.tolist(), strict=True)) | trainable


@pytest.mark.parametrize(("target", "opt"), [(None, 2), ("line:13", 2), ("grid:4x4", 1)])
def test_specialized_compile_prepares_the_full_circuits_state(target, opt):
    c = _compiled(target, opt, True)
    logical = without_measurements(lower(build_attention_circuit(CFG)))
    tokens = tokens_from_images(_images(1, 2), CFG)  # images the specialization never saw
    rng = np.random.default_rng(5)
    trainable = {s: float(rng.uniform(-np.pi, np.pi)) for s in CFG.trainable_symbols()}
    initial, final = list(c.initial_layout), list(c.final_layout)
    physical, remap = compact(without_measurements(c.circuit), keep=initial + final)
    zero_logical = _product_state([np.eye(2)] * logical.num_qubits, range(logical.num_qubits), logical.num_qubits)
    zero_physical = _product_state([], [], physical.num_qubits)
    for full, special in zip(data_bindings(tokens).numpy(), data_bindings(tokens, SPEC).numpy(), strict=True):
        assert np.count_nonzero(special == 0) >= SPEC.dropped_rotations
        want = _state(logical, _bound(logical, full, trainable), zero_logical)
        got = _state(physical, _bound(physical, special, trainable), zero_physical)
        assert layout_equivalence_error(want, got, [remap[p] for p in final]) < 1e-5


def test_specialization_drops_rotations_and_two_qubit_gates():
    assert SPEC.dropped_rotations > 10
    for target, opt in [(None, 2), ("line:13", 2)]:
        full, special = (
            gate_counts(_compiled(target, opt, False).circuit),
            gate_counts(_compiled(target, opt, True).circuit),
        )
        assert special["one_qubit_gates"] < full["one_qubit_gates"]
        assert special["two_qubit_gates"] <= full["two_qubit_gates"]
    synth = [_compiled("line:13", 2, s).report()["two_qubit_gates"] for s in (False, True)]
    assert synth[1] < synth[0], synth
    assert (
        _compiled("line:13", 2, True).report()["specialization"]["dropped_rotations_per_copy"] == SPEC.dropped_rotations
    )


def test_an_image_outside_the_specialization_is_refused():
    tokens = tokens_from_images(_images(2, 3), CFG)
    data_bindings(tokens, SPEC)  # admitted
    bright = _images(2, 3)
    bright[1, 7, 7] = 0.5  # a pixel of the dark patch
    with pytest.raises(InputError, match=r"image 1 is nonzero at amplitude 63, .*\(synthetic"):
        data_bindings(tokens_from_images(bright, CFG), SPEC)


def test_a_specialization_for_another_register_size_is_refused():
    other = HQViTConfig((16, 16), (4, 4))
    with pytest.raises(InputError, match="6-qubit registers, the circuit has 8"):
        build_attention_circuit(other, SPEC)
