"""Compile time per preset and per pass, and qsim time per compiled circuit, for the HQViT
circuits on line, grid, heavy-hex and a real calibration target.

``extra_info`` of every compile benchmark holds the per-pass seconds of the last round and the
two-qubit count; at ``--opt 3`` also the Python-side memory peak (tracemalloc, which sees numpy
buffers) of one compile. Run with ``make bench``.
"""

import tracemalloc

import numpy as np
import pytest

from hqvit.compiler.hqvit import HQViTConfig
from hqvit.compiler.pipeline import compile_hqvit
from hqvit.runtime.data import load_dataset
from hqvit.runtime.encoding import data_bindings, tokens_from_images
from hqvit.runtime.quantum_attention import QsimAttention
from hqvit.targets import resolve_target

CIRCUITS = {
    "digits8": HQViTConfig((8, 8), (4, 4)),
    "mnist16": HQViTConfig((16, 16), (4, 4)),
    "mnist32": HQViTConfig((32, 32), (4, 4)),
}
TARGETS = ["line:21", "grid:5x5", "heavy-hex:5", "ibm-torino"]


@pytest.fixture(scope="module", autouse=True)
def _warm_router():
    """Load numba's compiled router once, so no benchmark round pays for it."""
    compile_hqvit(CIRCUITS["digits8"], resolve_target("grid:4x4"), opt=1)


def _peak(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("opt", [0, 1, 2, 3])
@pytest.mark.parametrize("target_name", TARGETS)
@pytest.mark.parametrize("circuit", list(CIRCUITS))
def test_compile(benchmark, circuit, target_name, opt):
    cfg, target = CIRCUITS[circuit], resolve_target(target_name)
    result = benchmark.pedantic(lambda: compile_hqvit(cfg, target, opt=opt), rounds=3 if circuit == "digits8" else 1)
    report = result.report()
    benchmark.extra_info.update(
        two_qubit_gates=report["two_qubit_gates"],
        depth=report["depth"],
        esp=report.get("esp"),
        passes={p["name"]: p["seconds"] for p in report["passes"]},
    )
    if opt == 3:  # the memory peak of the heaviest preset (tracemalloc slows a compile 2-3x)
        benchmark.extra_info["python_peak_mib"] = round(_peak(lambda: compile_hqvit(cfg, target, opt=opt)) / 2**20, 1)


@pytest.mark.parametrize("target_name", TARGETS)
@pytest.mark.parametrize("circuit", ["digits8", "mnist16"])
def test_qsim_forward_per_compiled_circuit(benchmark, circuit, target_name):
    """One image's attention matrix (encode + readout) on the circuit compiled for the target."""
    cfg = CIRCUITS[circuit]
    backend = QsimAttention(cfg, compile_hqvit(cfg, resolve_target(target_name), opt=3))
    images = load_dataset("digits" if cfg.image == (8, 8) else "mnist5k", cfg.image).images[:1]
    tokens = tokens_from_images(images.double(), cfg)
    data = data_bindings(tokens).numpy()
    params = np.random.default_rng(0).uniform(-np.pi, np.pi, (cfg.heads, len(cfg.trainable_symbols())))
    valid = ((tokens**2).sum(-1) > 0).numpy()
    benchmark(lambda: backend.forward(data, params, valid))
    benchmark.extra_info.update(
        simulated_qubits=backend.executor.num_qubits,
        python_peak_mib=round(_peak(lambda: backend.forward(data, params, valid)) / 2**20, 1),
    )
