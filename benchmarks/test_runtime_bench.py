"""Runtime throughput on the digits config (8x8, patch 4x4, L=2, 1 head, bell swap test).

Run with ``make bench`` (or ``pytest benchmarks``). Reported figures:
- train samples/s (forward + parameter-shift / autograd gradients) per backend, in ``extra_info``;
- one resolved circuit through qsimcirq's public API vs this project's pre-translated binding
  path, same circuit, same parameters, both to a full statevector.
"""

import tracemalloc

import numpy as np
import pytest
import qsimcirq
import torch

from hqvit.compiler.hqvit import HQViTConfig
from hqvit.ir.cirq_export import to_cirq
from hqvit.runtime.data import load_dataset
from hqvit.runtime.encoding import data_bindings, tokens_from_images
from hqvit.runtime.model import ModelConfig, VisionTransformer
from hqvit.runtime.quantum_attention import QsimAttention

BATCH = 32


def _batch():
    ds = load_dataset("digits", (8, 8))
    return ds.images[:BATCH], ds.labels[:BATCH]


@pytest.mark.parametrize("backend", ["qsim", "exact"])
def test_train_step_throughput(benchmark, backend):
    torch.manual_seed(0)
    model = VisionTransformer(ModelConfig(HQViTConfig()), backend=backend)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x, y = _batch()

    def step():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    benchmark.pedantic(step, rounds=5 if backend == "qsim" else 30, warmup_rounds=1)
    benchmark.extra_info["train_samples_per_s"] = BATCH / benchmark.stats.stats.mean
    tracemalloc.start()
    step()
    benchmark.extra_info["python_peak_mib"] = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()


def _bindings():
    cfg = HQViTConfig()
    backend = QsimAttention(cfg)
    x, _ = _batch()
    data = data_bindings(tokens_from_images(x[:1].double(), cfg))[0].numpy()
    params = np.random.default_rng(0).uniform(-np.pi, np.pi, len(cfg.trainable_symbols()))
    return backend, data, params


def test_qsimcirq_public_api_per_circuit(benchmark):
    backend, data, params = _bindings()
    ex = backend.executor
    symbolic = to_cirq(backend.compiled.circuit, measurements=False)
    resolver = dict(zip(ex.data_symbols + ex.trainable_symbols, np.concatenate([data, params]), strict=True))
    sim = qsimcirq.QSimSimulator(qsimcirq.QSimOptions(max_fused_gate_size=2, cpu_threads=1))
    qubits = sorted(symbolic.all_qubits())
    benchmark(lambda: sim.simulate(symbolic, resolver, qubit_order=qubits).final_state_vector)


def test_binding_path_per_circuit(benchmark):
    backend, data, params = _bindings()
    benchmark(lambda: backend.executor.final_state(data, params))
