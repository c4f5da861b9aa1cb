"""Training throughput of the quantum attention layer: this project's qsim and exact backends
against PennyLane running the same compiled circuit.

One "sample" is what a training step needs per image: the attention matrix S (T x T, every head)
and the gradient of L = sum(G * S) with respect to every trainable angle (G a fixed random
upstream gradient). Digits config (8x8 image, 4x4 patches, L = 2, 1 head, Bell swap test).

- ours-qsim: compiled circuit on qsim through the pre-translated binding path, encoded state
  reused for every parameter shift (what ``hqvit train --backend qsim`` runs);
- ours-exact: the closed form in torch with autograd (``--backend exact``);
- PennyLane lightning.qubit with adjoint differentiation (PennyLane refuses it for the
  probabilities S needs; the row records that) and with parameter shift, and
  default.qubit with backprop: the same compiled circuit rebuilt gate by gate (affine angles
  evaluated in torch), probabilities of the readout qubits turned into S by the same formula;
- qsim through qsimcirq's public API (resolve + simulate per circuit) vs the binding path,
  one statevector each.

Every PennyLane S and gradient is checked against ours before it is timed. Needs the ``bench``
extra (pennylane, pennylane-lightning, matplotlib).

    python benchmarks/compare_runtime.py [--out-dir benchmarks/results]

``--gradients`` instead compares this project's two qsim-path gradient methods, parameter shift
and the adjoint sweep (same sample: S and the gradient of sum(G * S) for one image), on digits
8x8 (12 qubits) and MNIST 16x16 patch 4x4 (16 qubits), with 1 and 2 threads (torch and qsim);
the adjoint gradient is checked against the shift one before timing. No extras needed.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import date
from functools import partial
from pathlib import Path

import numpy as np
import torch

from hqvit.compiler.hqvit import HQViTConfig
from hqvit.runtime.data import load_dataset
from hqvit.runtime.encoding import data_bindings, tokens_from_images
from hqvit.runtime.exact import exact_attention
from hqvit.runtime.quantum_attention import QsimAttention

SAMPLES = 32


def _inputs(cfg: HQViTConfig, n: int):
    ds = load_dataset("digits", cfg.image)
    tokens = tokens_from_images(ds.images[:n].double(), cfg)
    rng = np.random.default_rng(0)
    params = rng.uniform(-np.pi, np.pi, (cfg.heads, len(cfg.trainable_symbols())))
    grad = rng.normal(size=(n, cfg.heads, cfg.tokens, cfg.tokens))
    return tokens, params, grad


def ours_qsim(backend: QsimAttention, tokens, params, grad):
    data = data_bindings(tokens).numpy()
    valid = ((tokens**2).sum(-1) > 0).numpy()
    states: list = []
    s, _ = backend.forward(data, params, valid, states)
    g, _ = backend.vjp(data, params, valid, grad, False, states)
    return s, g


def ours_exact(cfg: HQViTConfig, tokens, params, grad):
    p = torch.tensor(params, requires_grad=True)
    s, _ = exact_attention(tokens, p, cfg)
    (s * torch.from_numpy(grad)).sum().backward()
    return s.detach().numpy(), p.grad.numpy()


class PennyLaneAttention:
    """The compiled circuit of ``backend`` as a PennyLane QNode on ``device``."""

    OPS = {"h": "Hadamard", "x": "PauliX", "cx": "CNOT", "cz": "CZ", "swap": "SWAP", "rx": "RX", "ry": "RY", "rz": "RZ"}

    def __init__(self, backend: QsimAttention, device: str, diff_method: str):
        import pennylane as qml

        self.qml = qml
        self.backend = backend
        ex = backend.executor
        self.symbols = list(ex.data_symbols) + list(ex.trainable_symbols)
        self.n_data = len(ex.data_symbols)
        rows, consts, self.gates = [], [], []
        for g in ex.circuit.gates():
            if g.name not in self.OPS:
                raise ValueError(f"no PennyLane mapping for gate {g.name}")
            k = None
            if g.angles:
                k = len(consts)
                consts.append(g.angles[0].const)
                rows.append([g.angles[0].coeff(s) for s in self.symbols])
            self.gates.append((getattr(qml, self.OPS[g.name]), g.qubits, k))
        self.coeff = torch.tensor(np.array(rows), dtype=torch.float64)
        self.const = torch.tensor(consts, dtype=torch.float64)
        self.wires = list(backend.readout.kept)
        dev = qml.device(device, wires=ex.num_qubits)
        self.qnode = qml.QNode(self._circuit, dev, interface="torch", diff_method=diff_method)
        cfg = backend.cfg
        self.parity = torch.tensor(backend.readout.parity)
        self.t, self.d = cfg.tokens, cfg.features

    def _circuit(self, angles):
        for op, wires, k in self.gates:
            if k is None:
                op(wires=list(wires))
            else:
                op(angles[k], wires=list(wires))
        return self.qml.probs(wires=self.wires)

    def scores(self, data: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        """S (H, T, T) for one image, differentiable in params (H, n_trainable)."""
        out = []
        for h in range(params.shape[0]):
            angles = self.const + self.coeff @ torch.cat([data, params[h]])
            p = self.qnode(angles).reshape(self.t, self.d, self.t, self.d)
            total = p.sum(dim=(1, 3))
            p1 = torch.einsum("iajb,ab->ij", p, self.parity)
            out.append(((total - 2 * p1) / total).clamp(0.0, 1.0))
        return torch.stack(out)

    def run(self, tokens, params, grad):
        data = data_bindings(tokens)
        p = torch.tensor(params, requires_grad=True)
        s = torch.stack([self.scores(data[i], p) for i in range(len(data))])
        (s * torch.from_numpy(grad)).sum().backward()
        return s.detach().numpy(), p.grad.numpy()


def gradient_methods(out_dir: Path) -> list[dict]:
    """Samples/s of shift vs adjoint per size and thread count; the ratio is the figure to read
    on a shared machine."""
    from hqvit.runtime.qsim_backend import QsimOptions

    rows = []
    for name, cfg, dataset, n in (
        ("digits 8x8", HQViTConfig((8, 8), (4, 4)), "digits", 32),
        ("MNIST 16x16", HQViTConfig((16, 16), (4, 4)), "mnist5k", 16),
    ):
        ds = load_dataset(dataset, cfg.image)
        tokens = tokens_from_images(ds.images[:n].double(), cfg)
        rng = np.random.default_rng(0)
        params = rng.uniform(-np.pi, np.pi, (cfg.heads, len(cfg.trainable_symbols())))
        grad = rng.normal(size=(n, cfg.heads, cfg.tokens, cfg.tokens))
        for threads in (1, 2):
            torch.set_num_threads(threads)
            row = {"config": name, "qubits": cfg.logical_qubits, "threads": threads, "samples": n}
            grads = {}
            for method in ("shift", "adjoint"):
                backend = QsimAttention(cfg, options=QsimOptions(threads=threads), gradient=method)
                grads[method] = ours_qsim(backend, tokens, params, grad)[1]
                row[f"{method}_samples_per_s"] = _time(partial(ours_qsim, backend, tokens, params, grad), n)
            row["max_abs_grad_diff"] = float(abs(grads["adjoint"] - grads["shift"]).max())
            row["adjoint_over_shift"] = row["adjoint_samples_per_s"] / row["shift_samples_per_s"]
            rows.append(row)
            print(
                f"{name:12s} {threads} thread(s): shift {row['shift_samples_per_s']:8.1f}/s  "
                f"adjoint {row['adjoint_samples_per_s']:8.1f}/s  ratio {row['adjoint_over_shift']:5.2f}  "
                f"max |grad diff| {row['max_abs_grad_diff']:.1e}",
                flush=True,
            )
    out_dir.mkdir(parents=True, exist_ok=True)
    day, node = str(date.today()), platform.node()
    path = out_dir / f"{day}-{node}-gradients.json"
    path.write_text(json.dumps({"date": day, "machine": f"{node} ({platform.machine()})", "rows": rows}, indent=1))
    print("wrote", path)
    return rows


def _time(fn, n_samples: int, repeats: int = 3) -> float:
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return n_samples / best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out-dir", default="benchmarks/results")
    ap.add_argument("--gradients", action="store_true", help="parameter shift vs adjoint, 1 and 2 threads")
    args = ap.parse_args()
    if args.gradients:
        gradient_methods(Path(args.out_dir))
        return
    torch.set_num_threads(1)  # qsim runs on one thread here too; compare like with like
    cfg = HQViTConfig()
    backend = QsimAttention(cfg, gradient="shift")  # the row says parameter shift (--gradients: both)
    tokens, params, grad = _inputs(cfg, SAMPLES)
    s_ref, g_ref = ours_qsim(backend, tokens, params, grad)
    s_exact, g_exact = ours_exact(cfg, tokens, params, grad)
    rows = [
        {"method": "ours qsim (parameter shift)", "samples": SAMPLES, "max_err_S": float(abs(s_exact - s_ref).max())},
        {"method": "ours exact (autograd)", "samples": SAMPLES, "max_err_S": 0.0},
    ]
    rows[0]["samples_per_s"] = _time(lambda: ours_qsim(backend, tokens, params, grad), SAMPLES)
    rows[1]["samples_per_s"] = _time(lambda: ours_exact(cfg, tokens, params, grad), SAMPLES, repeats=10)
    for device, diff, n in (
        ("lightning.qubit", "adjoint", 8),
        ("lightning.qubit", "parameter-shift", 2),
        ("default.qubit", "backprop", 4),
    ):
        row = {"method": f"PennyLane {device} ({diff})", "samples": n}
        try:
            pl = PennyLaneAttention(backend, device, diff)
            s, g = pl.run(tokens[:n], params, grad[:n])
            g_want = ours_qsim(backend, tokens[:n], params, grad[:n])[1]
            row["max_err_S"] = float(abs(s - s_ref[:n]).max())
            row["max_err_grad"] = float(abs(g - g_want).max())
            if row["max_err_S"] > 1e-4 or row["max_err_grad"] > 1e-3:
                row["status"] = "MISMATCH with this project's S / gradient"
            row["samples_per_s"] = _time(lambda pl=pl, n=n: pl.run(tokens[:n], params, grad[:n]), n, repeats=2)
        except Exception as e:  # reported, never dropped
            row["status"] = f"failed: {type(e).__name__}: {e}"[:300]
            if diff == "adjoint":  # PennyLane's adjoint method covers expectation values, not probabilities
                row["status"] = "not applicable: " + row["status"]
        rows.append(row)
        print(row, flush=True)

    # one statevector: qsimcirq's public API vs the pre-translated binding path
    import qsimcirq

    from hqvit.ir.cirq_export import to_cirq

    ex = backend.executor
    data = data_bindings(tokens[:1])[0].numpy()
    symbolic = to_cirq(ex.circuit, measurements=False)
    resolver = dict(zip(ex.data_symbols + ex.trainable_symbols, np.concatenate([data, params[0]]), strict=True))
    sim = qsimcirq.QSimSimulator(qsimcirq.QSimOptions(max_fused_gate_size=2, cpu_threads=1))
    qubits = sorted(symbolic.all_qubits())
    api = _time(lambda: [sim.simulate(symbolic, resolver, qubit_order=qubits) for _ in range(20)], 20)
    bound = _time(lambda: [ex.final_state(data, params[0]) for _ in range(200)], 200)
    rows.append({"method": "qsimcirq public API, one statevector", "samples_per_s": api})
    rows.append({"method": "ours binding path, one statevector", "samples_per_s": bound})
    for r in rows:
        print(f"{r['method']:45s} {r.get('samples_per_s', 0):10.1f} /s  {r.get('status', '')}")
    write(rows, Path(args.out_dir))


def write(rows: list[dict], out_dir: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    day, node = str(date.today()), platform.node()
    machine = f"{node} ({platform.machine()}, {platform.python_version()}, torch threads 1)"
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / f"{day}-{node}-runtime"
    stem.with_suffix(".json").write_text(json.dumps({"date": day, "machine": machine, "rows": rows}, indent=1))
    lines = [
        f"Training throughput of the quantum attention layer (S and all trainable gradients per image), "
        f"digits config, {day}, {machine}.",
        "",
        "| method | samples/s | max abs S difference (qsim: vs closed form; PennyLane: vs qsim) | status |",
        "|---|---|---|---|",
    ]
    for r in rows:
        err = r.get("max_err_S")
        lines.append(
            f"| {r['method']} | {r.get('samples_per_s', 0):.1f} | {'–' if err is None else f'{err:.1e}'} | "
            f"{r.get('status', 'ok')} |"
        )
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    train = [r for r in rows if "statevector" not in r["method"]]
    fig, ax = plt.subplots(figsize=(9, 3.8))
    ax.barh([r["method"] for r in train], [r.get("samples_per_s", 0) for r in train])
    ax.set_xscale("log")
    ax.set_xlabel("samples / s (forward + all trainable gradients), log scale")
    ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(stem.with_name(stem.name + "-throughput.png"), dpi=110)
    plt.close(fig)
    print("wrote", stem.with_suffix(".json"), stem.with_suffix(".md"))


if __name__ == "__main__":
    main()
